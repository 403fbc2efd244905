"""The builder's design and MJML are checked on the server, whatever the browser sent."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.authoring import starters
from campaigns.authoring.design_checks import MAX_DESIGN_BYTES, check_design, check_mjml


def mjml(body: str) -> str:
    return f"<mjml><mj-body><mj-section><mj-column>{body}</mj-column></mj-section></mj-body></mjml>"


def design(*components, **extra) -> dict:
    """Project data shaped as GrapesJS 0.23 saves it, with `components` in the mjml body."""
    body = {"tagName": "mj-body", "type": "mj-body", "components": list(components)}
    root = {"tagName": "mjml", "type": "mjml", "components": [body]}
    wrapper = {
        "type": "wrapper",
        "head": {"type": "head"},
        "docEl": {"tagName": "html"},
        "components": [root],
    }
    page = {"type": "main", "id": "p1", "frames": [{"component": wrapper, "id": "f1"}]}
    return {"dataSources": [], "assets": [], "styles": [], "pages": [page], **extra}


def refusal(check, value) -> str:
    with pytest.raises(ValidationError) as caught:
        check(value)
    return " ".join(caught.value.messages)


@pytest.mark.parametrize("starter", starters.starters("https://mail.example.com", "en"))
def test_it_accepts_every_starter_design(starter):
    check_mjml(starter.mjml)


def test_it_accepts_text_with_formatting_links_and_placeholders():
    check_mjml(
        mjml(
            '<mj-text><p>Hi <b>{Person.firstName|there}</b>, <a href="{trackingUrl:3}">see</a>'
            '<br><a href="mailto:shop@example.com">write</a> <span style="color:#333">x</span>'
            "</p><ul><li>one</li></ul></mj-text>"
            '<mj-button href="https://example.com/?a=1&amp;b=2">Go</mj-button>'
            '<mj-image src="https://example.com/a.png" alt="A chair"></mj-image>'
        )
    )


@pytest.mark.parametrize(
    "body, named",
    [
        ("<mj-text><script>alert(1)</script></mj-text>", "<script>"),
        ("<mj-raw><iframe src='https://evil.example'></iframe></mj-raw>", "<iframe>"),
        ('<mj-text><p onclick="alert(1)">x</p></mj-text>', "onclick"),
        ('<mj-button href="javascript:alert(1)">x</mj-button>', "javascript:"),
        ('<mj-button href="  JaVa\tScRiPt:alert(1)">x</mj-button>', "javascript:"),
        ('<mj-text><a href="&#106;avascript:alert(1)">x</a></mj-text>', "javascript:"),
        ('<mj-text><a href="vbscript:msgbox">x</a></mj-text>', "vbscript:"),
        ('<mj-image src="data:image/png;base64,AAAA" alt="x"></mj-image>', "upload the image"),
        ('<mj-section background-url="data:image/png;base64,AA"></mj-section>', "upload"),
        ('<mj-text><span style="background:url(javascript:x)">x</span></mj-text>', "javascript"),
        ('<mj-text><p style="width:expression(alert(1))">x</p></mj-text>', "expression"),
        ('<mj-include path="/etc/passwd"></mj-include>', "<mj-include>"),
        ("<mj-foo></mj-foo>", "<mj-foo>"),
        ('<mj-image src="https://example.com/a.png"></mj-image>', "alt text"),
        ('<mj-image src="https://example.com/a.png" alt="  "></mj-image>', "alt text"),
        ("<mj-text><!--[if mso]><script>x</script><![endif]--></mj-text>", "comment"),
    ],
)
def test_it_refuses_mjml_that_could_run_fetch_or_read(body, named):
    assert named in refusal(check_mjml, mjml(body))


def test_it_refuses_a_style_sheet_that_imports_or_runs():
    source = "<mjml><mj-head><mj-style>@import url(https://x.example/a.css);</mj-style></mj-head>"
    assert "@import" in refusal(check_mjml, source + "<mj-body></mj-body></mjml>")


def test_it_refuses_what_is_not_mjml_or_too_large():
    assert "not MJML" in refusal(check_mjml, "<html><body>Hi</body></html>")
    assert "too large" in refusal(check_mjml, mjml("<mj-text>" + "x" * 1_000_001 + "</mj-text>"))


def test_it_accepts_a_design_as_the_builder_saves_it():
    text = {
        "tagName": "mj-text",
        "type": "mj-text",
        "attributes": {"font-size": "15px", "style": "color:#333333;"},
        "components": [
            {"type": "textnode", "content": "Hello {Person.firstName|there}, 3 < 4 "},
            {"type": "link", "attributes": {"href": "{trackingUrl:2}"}, "components": []},
        ],
    }
    image = {"type": "mj-image", "attributes": {"src": "https://a.example/x.png", "alt": "x"}}
    styles = [{"selectors": ["mj-column-per-50"], "style": {"width": "50% !important"}}]
    check_design(design(text, image, styles=styles, assets=[{"src": "https://a.example/x.png"}]))
    check_design({})  # a source template's design


@pytest.mark.parametrize(
    "data, named",
    [
        (design({"type": "script", "content": "alert(1)"}), "unknown kind"),
        (design({"tagName": "iframe", "attributes": {"src": "https://e.example"}}), "<iframe>"),
        (design({"type": "mj-text", "attributes": {"onmouseover": "x()"}}), "onmouseover"),
        (design({"type": "link", "attributes": {"href": "javascript:x()"}}), "javascript:"),
        (design({"type": "mj-image", "attributes": {"src": "data:image/gif;base64,R0"}}), "upload"),
        (design({"type": "text", "content": "<img src=x onerror=alert(1)>"}), "onerror"),
        (design({"type": "textnode", "content": "<script>alert(1)</script>"}), "script"),
        (design(styles=[{"style": {"background": "url('javascript:x')"}}]), "javascript"),
        (design(assets=[{"src": "data:image/png;base64,AA", "type": "image"}]), "upload"),
        ([1, 2], "could not be read"),
    ],
)
def test_it_refuses_a_design_that_could_run_or_embed(data, named):
    assert named in refusal(check_design, data)


def test_it_refuses_a_design_over_the_size_limit():
    big = design({"type": "textnode", "content": "x" * MAX_DESIGN_BYTES})
    assert "too large" in refusal(check_design, big)


@settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=1, max_size=20), value=st.text(max_size=60), tag=st.text(max_size=20))
def test_it_answers_any_attribute_with_acceptance_or_a_validation_error(name, value, tag):
    for check, data in (
        (check_design, design({"tagName": tag, "attributes": {name: value}})),
        (check_mjml, mjml(f"<mj-text><p data-x='{value}'>{value}</p></mj-text>")),
    ):
        try:
            check(data)
        except ValidationError as exc:
            assert exc.messages
