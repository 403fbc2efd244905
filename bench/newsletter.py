"""The newsletter the sending benchmarks render: three person placeholders and tracked links."""

PARAGRAPH = (
    '<p style="font-family:Arial,sans-serif;font-size:15px;line-height:22px;color:#333333">'
    "Nuestra colección de otoño ya está aquí: abrigos, botas y bufandas pensadas para los días "
    "fríos, con envío gratuito en pedidos superiores a 50 € y devoluciones sin coste.</p>\n"
)


def template_html(link_ids: list[int], *, before: int, after: int) -> str:
    """A Spanish newsletter with `before` paragraphs, a link per id, then `after` paragraphs."""
    links = "".join(
        f'<p><a href="{{trackingUrl:{link_id}}}" style="color:#0a66c2">Ver la oferta {n}</a></p>\n'
        for n, link_id in enumerate(link_ids, 1)
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Otoño</title></head>\n'
        '<body style="margin:0;padding:0"><table width="100%"><tr><td>\n'
        "<h1>Hola {Person.firstName},</h1>\n"
        + PARAGRAPH * before
        + links
        + "<p>Un saludo, {Person.name}: gracias por su confianza, {Person.lastName}.</p>\n"
        + PARAGRAPH * after
        + "</td></tr></table></body></html>\n"
    )


def tracked_links(campaign) -> list[int]:
    """The newsletter's two tracking URLs, made for `campaign`; their ids."""
    from campaigns.models import TrackingUrl  # Django is set up only once the bench runs

    return [
        TrackingUrl.objects.create(
            campaign=campaign, name=name, url=f"https://shop.example/{name}"
        ).pk
        for name in ("abrigos", "botas")
    ]


def add_dkim_key(domain: str) -> None:
    """A 2048-bit DKIM key for `domain`, stored as the admin stores one: its mail is signed."""
    from campaigns.authoring import dkim
    from campaigns.models import DkimKey
    from crm import secrets

    pem = dkim.generate_private_key()
    DkimKey.objects.create(
        domain=domain,
        selector="bench",
        private_key_encrypted=secrets.encrypt(pem),
        public_key=dkim.public_key_record(pem),
    )
