"""The admin CSV import through the real app: upload -> preview (dry run) -> import -> report, the
rejected-rows download, CSRF, escaping, and bad files answered with a report, never a 500."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from newsletter.web.admin import imports as admin_import
from tests.web.admin.test_issues import csrf, log_in

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "import"


def upload(client: TestClient, name: str, content: bytes, token: str | None = None):  # type: ignore[no-untyped-def]
    data = {"csrf_token": token if token is not None else csrf(client, "/admin/import")}
    return client.post("/admin/import", data=data, files={"file": (name, content, "text/csv")})


def ref_of(page: str) -> str:
    match = re.search(r'name="ref" value="([^"]+)"', page)
    assert match, "no import reference on the preview page"
    return match.group(1)


def emails(services: Services) -> dict[str, SubscriberStatus]:
    with services.sessions() as session:
        return {s.email: s.status for s in session.scalars(select(Subscriber))}


def test_upload_preview_then_import(client: TestClient, services: Services) -> None:
    log_in(client, "/admin/import")
    form = client.get("/admin/import")
    assert form.status_code == 200 and 'label for="file"' in form.text and 'enctype="multipart/form-data"' in form.text
    preview = upload(client, "ghost.csv", (DATA / "ghost.csv").read_bytes())
    assert preview.status_code == 200
    page = preview.text
    assert 'id="layout">Ghost members export<' in page
    assert "Mateo García" in page.split('id="sample"')[1]  # the first rows as mapped
    assert 'id="added">7<' in page and "Import 7 readers" in page
    rejected = page.split('id="rejected"')[1].split("</table>")[0]
    assert "<td>4</td><td>hannah.klein@example.at</td><td>not subscribed to emails in Ghost</td>" in rejected
    assert "<td>8</td><td>aoife.kelly@example.ie</td><td>duplicate of row 2</td>" in rejected
    assert emails(services) == {}  # the preview changed nothing

    ref = ref_of(page)
    download = client.get("/admin/import/rejected.csv", params={"ref": ref})
    assert download.status_code == 200 and download.text.splitlines()[0] == "row,email,reason"
    assert len(download.text.splitlines()) == 6

    done = client.post("/admin/import/run", data={"csrf_token": csrf(client, "/admin/import"), "ref": ref,
                                                  "opted_in": "1"})
    assert done.status_code == 200 and 'id="added">7<' in done.text and "The new readers are active." in done.text
    found = emails(services)
    assert len(found) == 7 and set(found.values()) == {SubscriberStatus.ACTIVE}
    # The upload is gone: the same form cannot import twice.
    again = client.post("/admin/import/run", data={"csrf_token": csrf(client, "/admin/import"), "ref": ref})
    assert again.status_code == 400 and "expired or was already imported" in again.text


def test_without_opt_in_readers_are_pending_and_mailed(client: TestClient, services: Services) -> None:
    log_in(client, "/admin/import")
    ref = ref_of(upload(client, "plain.csv", (DATA / "plain.csv").read_bytes()).text)
    done = client.post("/admin/import/run", data={"csrf_token": csrf(client, "/admin/import"), "ref": ref})
    assert "pending: 3 confirmation emails sent" in done.text
    assert set(emails(services).values()) == {SubscriberStatus.PENDING}


def test_forms_need_the_csrf_token_and_refs_are_signed(client: TestClient, services: Services) -> None:
    log_in(client, "/admin/import")
    refused = upload(client, "plain.csv", (DATA / "plain.csv").read_bytes(), token="forged")
    assert refused.status_code == 403
    ref = ref_of(upload(client, "plain.csv", (DATA / "plain.csv").read_bytes()).text)
    assert client.post("/admin/import/run", data={"ref": ref}).status_code == 403
    forged = client.post("/admin/import/run", data={"csrf_token": csrf(client, "/admin/import"), "ref": ref + "x"})
    assert forged.status_code == 400 and emails(services) == {}
    assert client.get("/admin/import/rejected.csv", params={"ref": "nonsense"}).status_code == 404


def test_bad_files_get_a_report_not_a_500(client: TestClient) -> None:
    log_in(client, "/admin/import")
    cp1252 = upload(client, "latin.csv", (DATA / "cp1252.csv").read_bytes())
    assert cp1252.status_code == 200 and "it was read as Windows-1252" in cp1252.text and "René Müller" in cp1252.text
    headerless = upload(client, "no-header.csv", (DATA / "headerless.csv").read_bytes())
    assert headerless.status_code == 200 and "the file has no header row" in headerless.text
    for content, message in ((b"", "the file is empty"),
                             (b"first,second\nfoo,bar\n", "no email column"),
                             (b"email\n\x81\x8d\x90\n", "neither UTF-8 nor Windows-1252")):
        answer = upload(client, "bad.csv", content)
        assert answer.status_code == 400 and message in answer.text
        assert 'id="file-error" role="alert">bad.csv cannot be imported' in answer.text
    nothing = client.post("/admin/import", data={"csrf_token": csrf(client, "/admin/import")})
    assert nothing.status_code == 400 and "Choose a CSV file" in nothing.text


def test_script_in_names_and_file_names_is_escaped(client: TestClient, services: Services) -> None:
    log_in(client, "/admin/import")
    evil = "<script>alert(1)</script>"
    content = f"email,name\nana@example.org,{evil}\n<script>@x,{evil}\n".encode()
    preview = upload(client, f"{evil}.csv", content)
    assert preview.status_code == 200 and "<script>" not in preview.text and "&lt;script&gt;" in preview.text
    client.post("/admin/import/run", data={"csrf_token": csrf(client, "/admin/import"), "ref": ref_of(preview.text),
                                           "opted_in": "1"})
    with services.sessions() as session:
        sid = session.scalar(select(Subscriber.id).where(Subscriber.email == "ana@example.org"))
    for path in ("/admin/subscribers", f"/admin/subscribers/{sid}", f"/admin/subscribers/{sid}/edit"):
        page = client.get(path)
        assert page.status_code == 200 and "<script>" not in page.text and "&lt;script&gt;" in page.text, path


def test_uploads_over_the_limit_are_refused_and_not_kept(client: TestClient, services: Services,
                                                         monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(admin_import, "MAX_UPLOAD", 2 * 1024 * 1024)
    log_in(client, "/admin/import")
    big = b"email\n" + b"r@example.org\n" * 200_000  # 2.8 MB
    answer = upload(client, "big.csv", big)
    assert answer.status_code == 413 and "larger than 2 MB" in answer.text
    assert list((services.settings.data_dir / "imports").glob("*")) == []
