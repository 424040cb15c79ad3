"""The JSON API's article bodies: an article out with its typed body blocks, and what creates or
edits one. The block models mirror newsletter/content/blocks.py's JSON form (``blocks.serialise``),
so the schema tells a client exactly which blocks to expect; the shared field types are schemas.py's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from newsletter.web.api.schemas import Author, Body, Moment, Request, Standfirst, Title, Url, _storable

ImageUrl = Annotated[str, Field(max_length=1000, description="the feature image: http:// or https:// (one of our "
                                "/media/ images, or anyone's), a /media/ path of ours, or empty for none"),
                     AfterValidator(_storable)]
ImageCredit = Annotated[str, Field(max_length=300, description="who took or owns the feature image"),
                        AfterValidator(_storable)]


# -- the body's blocks; inline HTML is the allow-listed fragment (a, strong, em, code, br), already clean


class ParagraphBlock(BaseModel):
    kind: Literal["paragraph"]
    html: str


class HeadingBlock(BaseModel):
    kind: Literal["heading"]
    level: int = Field(ge=2, le=4)
    html: str


class ListBlock(BaseModel):
    kind: Literal["list"]
    ordered: bool = False
    items: list[str] = Field(description="inline HTML fragments")


class QuoteBlock(BaseModel):
    kind: Literal["quote"]
    html: str = Field(description="its paragraphs separated by <br><br>")


class PullQuoteBlock(BaseModel):
    kind: Literal["pull_quote"]
    text: str = Field(description="plain text")


class ImageBlock(BaseModel):
    kind: Literal["image"]
    src: str = Field(description="absolute http(s) URL; our /media/ copy once fetched")
    alt: str = ""
    caption: str = ""
    credit: str = ""
    width: int | None = None
    height: int | None = None


class DividerBlock(BaseModel):
    kind: Literal["divider"]


class LinkCardBlock(BaseModel):
    kind: Literal["link_card"]
    url: str
    title: str = ""
    domain: str = ""


Block = Annotated[
    ParagraphBlock | HeadingBlock | ListBlock | QuoteBlock | PullQuoteBlock | ImageBlock | DividerBlock
    | LinkCardBlock,
    Field(discriminator="kind"),
]


class ArticleOut(BaseModel):
    id: int
    title: str
    author: str
    standfirst: str
    published_at: datetime
    url: str
    hidden: bool
    paragraphs: list[str] = Field(description="the body's plain text, paragraph by paragraph")
    body: list[Block] = Field(description="the body as the email shows it: typed blocks, in order")
    body_markdown: str = Field(description="as the writer typed it, or the blocks written as Markdown")
    image_url: str = Field(description="the feature image shown above the article; empty for none")
    image_credit: str
    source: str


class ArticleList(BaseModel):
    items: list[ArticleOut]
    total: int


class ArticleCreate(Request):
    title: Title
    body_markdown: Body
    author: Author = ""
    standfirst: Standfirst = ""
    url: Url = ""
    image_url: ImageUrl = ""
    image_credit: ImageCredit = ""
    published_at: Moment | None = Field(default=None, description="default: now")


class ArticlePatch(Request):
    """Only the keys given change (null: keep; an empty image_url removes the feature image)."""

    title: Title | None = None
    body_markdown: Body | None = None
    author: Author | None = None
    standfirst: Standfirst | None = None
    url: Url | None = None
    image_url: ImageUrl | None = None
    image_credit: ImageCredit | None = None
    published_at: Moment | None = None
    hidden: bool | None = Field(default=None, description="a hidden article is never put in an issue")
