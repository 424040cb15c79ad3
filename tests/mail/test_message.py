"""Per-reader messages: what a mail client (and an attacker's name field) would see."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from newsletter.config import Settings
from newsletter.mail.headers import UnmailableAddress, display_name
from newsletter.mail.message import MessageTemplate, Reader, build_simple_message, make_message_id
from newsletter.render.issue import RenderedIssue, render_issue
from newsletter.render.markers import clean_text
from tests.render.test_render import PARAGRAPHS, make_article, make_issue, make_settings

WHEN = datetime(2026, 11, 28, 7, 0, tzinfo=timezone.utc)
EVIL = "\r\nBcc: evil@x"


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("msg"))


@pytest.fixture(scope="module")
def rendered(module_settings: Settings) -> RenderedIssue:
    return render_issue(make_issue(), module_settings)


@pytest.fixture(scope="module")
def template(rendered: RenderedIssue, module_settings: Settings) -> MessageTemplate:
    return MessageTemplate.compile(rendered, module_settings)


def reader(name: str = "Ana", email_: str = "ana@example.org", token: str = "tok-ana") -> Reader:
    return Reader(
        email=email_,
        name=name,
        unsubscribe_url=f"https://newsletter.test/unsubscribe/{token}?a=1&b=2",
        unsubscribe_mailto=f"mailto:unsubscribe@example.org?subject={token}",
    )


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def bodies(msg: EmailMessage) -> tuple[str, str]:
    parts = {part.get_content_type(): part for part in msg.iter_parts()}
    assert list(parts) == ["text/plain", "text/html"]
    # The wire form has CRLF line ends and the parser keeps them in decoded text.
    text, html = (parts[kind].get_content().replace("\r\n", "\n") for kind in ("text/plain", "text/html"))
    return text, html


def assert_wire_format(data: bytes) -> None:
    assert data.endswith(b"\r\n")
    assert b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_a_complete_multipart_message(template: MessageTemplate) -> None:
    data = template.personalise(reader(), make_message_id(3, 42, "example.org"), date=WHEN)
    msg = parse(data)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["From"] == "The Test Briefing <briefing@example.org>"
    assert msg["To"] == "Ana <ana@example.org>"
    assert msg["Subject"] == "Week 51: the cost of Kursk"
    assert msg["Message-ID"] == "<issue-3.reader-42@example.org>"
    assert msg["Date"].datetime == WHEN
    assert msg["MIME-Version"] == "1.0"
    assert msg["List-Unsubscribe"] == (
        "<https://newsletter.test/unsubscribe/tok-ana?a=1&b=2>, <mailto:unsubscribe@example.org?subject=tok-ana>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert not msg.defects and all(not part.defects for part in msg.iter_parts())
    text, html = bodies(msg)
    assert "Hi Ana," in text.splitlines()
    assert "https://newsletter.test/unsubscribe/tok-ana?a=1&b=2" in text.splitlines()
    assert ">Hi Ana,<" in html
    assert 'href="https://newsletter.test/unsubscribe/tok-ana?a=1&amp;b=2"' in html
    assert PARAGRAPHS[0] in html and PARAGRAPHS[0] in " ".join(text.split())
    assert "@@NL-SLOT" not in text + html
    assert_wire_format(data)


def test_bodies_decode_to_the_rendered_issue(template: MessageTemplate, rendered: RenderedIssue) -> None:
    from newsletter.render.issue import fill_html, fill_text

    who = reader(name="Zoë Ŝmith")
    text, html = bodies(parse(template.personalise(who, "<x@example.org>")))
    assert text == fill_text(rendered.text, who)
    assert html == fill_html(rendered.html, who)


def test_mjml_long_lines_are_wrapped(template: MessageTemplate, rendered: RenderedIssue) -> None:
    assert max(len(line) for line in rendered.html.splitlines()) > 998  # what MJML gives us
    data = template.personalise(reader(), "<x@example.org>")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    "name",
    ["Zoë Ŝmith", 'Pat "the Cat" O\'Brien, Jr.', "Smith, Ana (Dr.)", "back\\slash", "=?utf-8?q?fake?=", "李小龍"],
)
def test_display_names_round_trip(template: MessageTemplate, name: str) -> None:
    msg = parse(template.personalise(reader(name=name), "<x@example.org>"))
    (address,) = msg["To"].addresses
    assert address.display_name == name and address.addr_spec == "ana@example.org"
    text, html = bodies(msg)
    assert f"Hi {name}," in text.splitlines()


def test_html_greeting_is_escaped(template: MessageTemplate) -> None:
    _, html = bodies(parse(template.personalise(reader(name="<script>x</script>"), "<x@example.org>")))
    assert "<script>x" not in html and "Hi &lt;script&gt;x&lt;/script&gt;," in html


def test_no_header_injection(rendered: RenderedIssue, module_settings: Settings) -> None:
    evil_issue = RenderedIssue(rendered.subject + EVIL, rendered.preheader, rendered.html, rendered.text)
    compiled = MessageTemplate.compile(evil_issue, module_settings, subject_prefix="[Test]" + EVIL)
    evil_reader = Reader(
        email="ana@example.org",
        name="Ana" + EVIL,
        unsubscribe_url="https://newsletter.test/u" + EVIL,
        unsubscribe_mailto="mailto:u@example.org" + EVIL,
    )
    data = compiled.personalise(evil_reader, "<id@example.org>" + EVIL)
    msg = parse(data)
    assert msg["Bcc"] is None
    assert sorted(msg.keys()) == sorted(
        ["From", "Subject", "List-Id", "List-Unsubscribe-Post", "MIME-Version", "Content-Type", "To", "Date"]
        + ["Message-ID", "List-Unsubscribe"]
    )
    assert not any(line.lower().startswith(b"bcc") for line in data.split(b"\r\n"))
    assert msg["Subject"] == "[Test] Bcc: evil@xWeek 51: the cost of Kursk Bcc: evil@x"
    assert msg["To"].addresses[0].display_name == "Ana Bcc: evil@x"
    assert_wire_format(data)


def test_two_readers_differ_only_in_their_slots(template: MessageTemplate) -> None:
    ana = reader(name="Ana", email_="ana@example.org", token="tok-aaa")
    bob = reader(name="Bob", email_="bob@example.org", token="tok-bbb")
    a = template.personalise(ana, make_message_id(3, 41, "example.org"), date=WHEN)
    b = template.personalise(bob, make_message_id(3, 42, "example.org"), date=WHEN)
    assert a != b and len(a) == len(b)
    covered = bytearray(len(a))  # positions of Ana's own values in her message
    for value in (b"Ana", b"ana@example.org", b"tok-aaa", b"reader-41"):
        start = a.find(value)
        while start != -1:
            covered[start : start + len(value)] = b"\x01" * len(value)
            start = a.find(value, start + 1)
    differing = [i for i in range(len(a)) if a[i] != b[i]]
    assert differing and all(covered[i] for i in differing)


def test_subject_prefix_and_non_ascii_subject(rendered: RenderedIssue, module_settings: Settings) -> None:
    issue = RenderedIssue("Zoë’s week — über alles " * 4, "", rendered.html, rendered.text)
    data = MessageTemplate.compile(issue, module_settings, subject_prefix="[Preview] ").personalise(
        reader(), "<x@example.org>"
    )
    assert parse(data)["Subject"] == clean_text("[Preview] " + "Zoë’s week — über alles " * 4)
    header = data.split(b"\r\n\r\n", 1)[0]
    assert header.isascii() and b"=?utf-8?" in header
    assert_wire_format(data)


def test_message_id_is_deterministic() -> None:
    assert make_message_id(3, 42, "example.org") == "<issue-3.reader-42@example.org>"
    assert make_message_id(3, 42, "example.org") == make_message_id(3, 42, "example.org")
    assert make_message_id(3, 43, "example.org") != make_message_id(3, 42, "example.org")
    assert make_message_id(3, 42, "exa\r\nmple.org>") == "<issue-3.reader-42@example.org>"


def test_unusable_reader_values_are_refused(template: MessageTemplate) -> None:
    with pytest.raises(UnmailableAddress):
        template.personalise(reader(email_="not an address"), "<x@example.org>")
    with pytest.raises(UnmailableAddress):
        template.personalise(reader(email_="ana@example.org" + EVIL), "<x@example.org>")
    with pytest.raises(UnmailableAddress):
        template.personalise(reader(email_="ana@example.org>, <evil@x"), "<x@example.org>")
    with pytest.raises(ValueError):
        template.personalise(Reader("a@example.org", "A", "", ""), "<x@example.org>")


def test_internationalised_domain_is_ascii_on_the_wire(template: MessageTemplate) -> None:
    msg = parse(template.personalise(reader(email_="ana@bücher.example"), "<x@example.org>"))
    assert msg["To"].addresses[0].addr_spec == "ana@xn--bcher-kva.example"


@hyp_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text())
def test_any_name_gives_one_well_formed_to_header(template: MessageTemplate, name: str) -> None:
    data = template.personalise(reader(name=name), "<x@example.org>")
    msg = parse(data)
    assert len(msg.get_all("To")) == 1
    assert msg["Bcc"] is None and msg["Cc"] is None
    (address,) = msg["To"].addresses
    assert address.addr_spec == "ana@example.org"
    expected = clean_text(name)
    if len(expected) > 150:  # long names are capped (200 characters, 600 UTF-8 octets)
        expected = display_name(name)
        assert clean_text(name).startswith(expected)
    assert address.display_name == expected
    text, _ = bodies(msg)
    assert "https://newsletter.test/unsubscribe/tok-ana?a=1&b=2" in text.splitlines()
    assert_wire_format(data)


@hyp_settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=st.text(min_size=1))
def test_any_subject_round_trips(rendered: RenderedIssue, module_settings: Settings, subject: str) -> None:
    issue = RenderedIssue(subject, "", "<p>hi</p>", "hi\n" + rendered.text)
    data = MessageTemplate.compile(issue, module_settings).personalise(reader(), "<x@example.org>")
    msg = parse(data)
    assert len(msg.get_all("Subject")) == 1 and msg["Bcc"] is None
    assert msg["Subject"] == clean_text(subject)
    assert_wire_format(data)


def test_simple_message_for_confirmation(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    message_id, data = build_simple_message(
        settings,
        to_email="zoe@example.org",
        to_name="Zoë Ŝmith" + EVIL,
        subject="Confirm" + EVIL,
        text="Please confirm:\nhttps://newsletter.test/confirm/abc\n",
        html="<p>Please <a href='https://newsletter.test/confirm/abc'>confirm</a></p>",
        headers={"Auto-Submitted": "auto-generated" + EVIL},
    )
    msg = parse(data)
    assert msg["Message-ID"] == message_id and message_id.endswith("@example.org>")
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Confirm Bcc: evil@x"
    assert msg["To"].addresses[0].display_name == "Zoë Ŝmith Bcc: evil@x"
    assert msg["Auto-Submitted"] == "auto-generated Bcc: evil@x"
    assert msg["From"] == "The Test Briefing <briefing@example.org>"
    text, html = bodies(msg)
    assert "https://newsletter.test/confirm/abc" in text.splitlines() and "confirm</a>" in html
    assert_wire_format(data)


def test_simple_message_text_only_and_bad_header_name(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    _, data = build_simple_message(settings, to_email="a@example.org", to_name="", subject="Hi", text="x", html=None)
    msg = parse(data)
    assert msg.get_content_type() == "text/plain" and msg["To"] == "a@example.org"
    with pytest.raises(ValueError):
        build_simple_message(
            settings, to_email="a@example.org", to_name="", subject="Hi", text="x", html=None,
            headers={"X-Bad\r\nBcc": "evil@x"},
        )


def test_long_values_stay_whole_in_bodies(template: MessageTemplate) -> None:
    name = "Ŝ" * 150 + " " + "x" * 300
    url_token = "t" * 400
    msg = parse(template.personalise(reader(name=name, token=url_token), "<x@example.org>"))
    text, html = bodies(msg)
    assert f"Hi {display_name(name)}," in text.splitlines()
    assert len(display_name(name)) < len(clean_text(name))
    assert f"https://newsletter.test/unsubscribe/{url_token}?a=1&b=2" in text.splitlines()
    assert f"/unsubscribe/{url_token}?a=1&amp;b=2" in html


def test_article_with_long_line_in_issue(module_settings: Settings) -> None:
    article = make_article(paragraphs=["word " * 2000])
    compiled = MessageTemplate.compile(render_issue(make_issue(article), module_settings), module_settings)
    assert_wire_format(compiled.personalise(reader(), "<x@example.org>"))


@given(st.text(st.sampled_from(".a Ŝ=\n"), max_size=400))
@hyp_settings(max_examples=150, deadline=None)
def test_no_line_starts_with_a_dot_and_the_body_survives(text: str) -> None:
    """Lines that start with "." are encoded (=2E) at compile time, so SMTP never has to
    dot-stuff our mail per reader; the reader still sees every dot, and lines keep within 76."""
    from newsletter.mail.message import _qp

    for soft_end in (False, True):
        encoded = _qp(text.encode("utf-8"), soft_end=soft_end)
        assert not encoded.startswith(b".") and b"\n." not in encoded
        assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
        decoded = quopri_decode(encoded).decode("utf-8").replace("\r\n", "\n")
        assert decoded == text


def quopri_decode(encoded: bytes) -> bytes:
    import binascii

    return binascii.a2b_qp(encoded)


def test_a_css_rule_at_a_line_start_needs_no_dot_stuffing(module_settings: Settings) -> None:
    rendered = RenderedIssue("S", "", "<style>\n.mj-outlook-group-fix { width:100% }\n</style><p>" + "." * 90 + "</p>",
                             "...and more\n.\n")
    data = MessageTemplate.compile(rendered, module_settings).personalise(reader(), "<x@example.org>")
    assert b"\n." not in data
    text, html = bodies(parse(data))
    assert ".mj-outlook-group-fix" in html and "." * 90 in html
    assert text.startswith("...and more\n.\n")


@given(name=st.text(st.sampled_from(". a\n\t=Ŝ"), max_size=120))
@hyp_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_reader_value_starts_a_line_with_a_dot(module_settings: Settings, name: str) -> None:
    """The worker tells SMTP its messages need no dot-stuffing scan: every slot value too (names,
    the greeting, each URL) keeps that promise, wherever the template puts it."""
    rendered = RenderedIssue("S", "", "<p>.Hi</p>\n.x", ".\n...text\n.")
    compiled = MessageTemplate.compile(rendered, module_settings)
    data = compiled.personalise(reader(name=name, token="." + "t" * 80), "<x@example.org>")
    assert not data.startswith(b".") and b"\n." not in data
