"""Benchmark: rendering the messages of one mass email, against Django's mail classes and a floor.

Run from the project root (it makes its own SQLite database in a temporary folder):

    .venv/bin/python bench/render.py                 # 20,000 messages
    .venv/bin/python bench/render.py --smtp          # also through Postfix's smtp-sink

The template (about 6 KB of HTML) has three person placeholders, two tracking links, the open
pixel and the appended opt-out link. It times, on one core, in the same run:
  render  campaigns.authoring.rendering: CompiledMassEmail.compile once, then render(item) per
  recipient; authored  the same, for a template written the way issue 11 lets marketers write: CSS
          in a <style> block (inlined by css-inline), two plain links that "track all links" turns
          into tracking URLs with UTM tags, a preheader, the "View in browser" line and a
          fallback, all done by compile;
  dkim    the authored template with a 2048-bit DKIM key: render(item) plus the signature;
  visual  a template built in the visual builder, 50 blocks (text, images, buttons, dividers,
          social links in 1–4 column sections): compile (its MJML checked and compiled by MRML,
          then inlined, every link tracked) timed on its own (median of 5), then render(item);
          same-html  its compiled HTML saved as a source template (the per-recipient work is
          the same: the ratio shows the builder adds nothing per recipient);
  starter the newsletter starter design as a visual template;
  django  the same values substituted with str.replace, then EmailMultiAlternatives per
          recipient (.message().as_bytes()), which is how messages are usually built;
  floor   copying a prebuilt message's bytes (the cheapest possible "build").
With --smtp it starts smtp-sink on a free loopback port and sends N prebuilt messages and N
rendered ones over one smtplib connection, in alternating rounds: the ratio of their wall times
is the pipeline's share of the floor.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as a script, bench/ would come first on sys.path

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import smtplib  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.newsletter import add_dkim_key, template_html, tracked_links  # noqa: E402
from bench.scratch import setup_django  # noqa: E402


def make_mass_email():
    from campaigns.models import Campaign, MassEmail, MassEmailSettings
    from crm.models import EmailTemplate

    mass_settings = MassEmailSettings.load()
    mass_settings.open_tracking = True
    mass_settings.site_url = "https://news.example.org"
    mass_settings.save()
    campaign = Campaign.objects.create(name="Otoño", type="newsletter")
    link_ids = tracked_links(campaign)
    template = EmailTemplate.objects.create(
        name="Otoño", subject="¡Hola {Person.firstName}! Novedades de otoño", body_html=""
    )
    template.body_html = template_html(link_ids, before=5, after=2)
    template.save()
    mass_email = MassEmail.objects.create(
        campaign=campaign,
        name="Otoño",
        email_template=template,
        from_address="noticias@shop.example",
        from_name="Tienda Ejemplo",
    )
    return mass_email, link_ids


STYLE = """<style>
p { font-family: Arial, sans-serif; font-size: 15px; line-height: 22px; color: #333333; }
a { color: #0a66c2; }
h1 { font-family: Georgia, serif; color: #1d3557; }
@media (max-width: 600px) { p { font-size: 17px; } }
</style>"""


def make_authored_mass_email(mass_email):
    """The same newsletter written with a style block and plain links: compile inlines the
    CSS, tracks the links (UTM tags), adds the preheader and the web view line."""
    from campaigns.models import MassEmail
    from crm.models import EmailTemplate

    source = mass_email.email_template.body_html
    source = source.replace("</head>", STYLE + "</head>").replace(' style="color:#0a66c2"', "")
    source = source.replace(
        'style="font-family:Arial,sans-serif;font-size:15px;line-height:22px;color:#333333"', ""
    )
    for n, (name, url) in enumerate(mass_email.campaign.tracking_urls.values_list("pk", "url"), 1):
        source = source.replace(f"{{trackingUrl:{name}}}", f"{url}/temporada-{n}")
    source = source.replace("{Person.firstName}", "{Person.firstName|cliente}")
    template = EmailTemplate.objects.create(
        name="Otoño (authored)",
        subject=mass_email.email_template.subject,
        preheader="Abrigos, botas y bufandas con envío gratuito",
        body_html=source,
    )
    return MassEmail.objects.create(
        campaign=mass_email.campaign,
        name="Otoño (authored)",
        email_template=template,
        from_address="noticias@shop.example",
        from_name="Tienda Ejemplo",
        track_all_links=True,
        utm_tags=True,
        web_view_link=True,
    )


BLOCKS = (
    '<mj-text font-family="Helvetica, Arial, sans-serif">Novedad {n} para '
    "{{Person.firstName|cliente}}: abrigos y botas para el frío, con envío gratuito.</mj-text>",
    '<mj-image src="https://news.example.org/media/builder/ab/foto{n}.png" alt="Foto {n}" '
    'href="https://shop.example/foto-{n}"></mj-image>',
    '<mj-button href="https://shop.example/oferta-{n}">Ver la oferta {n}</mj-button>',
    '<mj-divider border-width="1px" border-color="#dddddd"></mj-divider>',
    '<mj-social><mj-social-element name="facebook-noshare" href="https://fb.example/{n}">'
    "Facebook</mj-social-element></mj-social>",
)


def design_mjml(blocks: int) -> str:
    """A visual design of `blocks` blocks, in sections of one to four columns."""
    sections, n = [], 0
    while n < blocks:
        columns = min(1 + len(sections) % 4, blocks - n)
        cells = [
            f"<mj-column>{BLOCKS[(n + i) % len(BLOCKS)].format(n=n + i)}</mj-column>"
            for i in range(columns)
        ]
        sections.append(f'<mj-section background-color="#ffffff">{"".join(cells)}</mj-section>')
        n += columns
    footer = '<mj-text><a href="{optOutUrl}">Darse de baja</a></mj-text>'
    sections.append(f"<mj-section><mj-column>{footer}</mj-column></mj-section>")
    return f'<mjml lang="es"><mj-body>{"".join(sections)}</mj-body></mjml>'


def make_visual_mass_email(mass_email, mjml: str, name: str, *, as_source: bool = False):
    """A mass email of a visual template of `mjml`; `as_source`: its compiled HTML saved as
    a source template instead (the same mail, for comparison)."""
    from campaigns.authoring import visual
    from campaigns.models import MassEmail
    from crm.models import EmailTemplate
    from crm.models.templates import TemplateEditor

    template = EmailTemplate.objects.create(
        name=name,
        subject=mass_email.email_template.subject,
        preheader="Abrigos, botas y bufandas con envío gratuito",
        editor=TemplateEditor.SOURCE if as_source else TemplateEditor.VISUAL,
        body_mjml="" if as_source else mjml,
        body_html=visual.compile_mjml(mjml, "https://news.example.org") if as_source else "",
    )
    return MassEmail.objects.create(
        campaign=mass_email.campaign,
        name=name,
        email_template=template,
        from_address="noticias@shop.example",
        track_all_links=True,
        utm_tags=True,
        web_view_link=True,
    )


def time_compile(mass_email, times: int = 5) -> tuple[float, float]:
    """Median CPU milliseconds of CompiledMassEmail.compile and of the MJML step alone (CPU
    time, so that other load on a shared machine counts for little)."""
    from campaigns.authoring import visual
    from campaigns.authoring.rendering import CompiledMassEmail

    template = mass_email.email_template
    whole, mjml = [], []
    for _ in range(times):
        started = time.process_time()
        CompiledMassEmail.compile(mass_email)
        whole.append(time.process_time() - started)
        started = time.process_time()
        visual.sendable_html(template, "https://news.example.org")
        mjml.append(time.process_time() - started)
    return sorted(whole)[times // 2] * 1000, sorted(mjml)[times // 2] * 1000


def make_items(mass_email, count: int) -> list:
    """Unsaved queue items with ids and contacts, as the sender loads them (no queries later)."""
    from campaigns.models import EmailQueueItem
    from crm.models import Contact, EmailAddress

    items = []
    for n in range(1, count + 1):
        address = EmailAddress(pk=n, address=f"cliente{n}@example.net")
        contact = Contact(pk=n, first_name=f"Ana{n}", last_name="Muñoz", email_address=address)
        item = EmailQueueItem(
            pk=n,
            mass_email=mass_email,
            contact=contact,
            email_address=address,
            email=address.address,
        )
        items.append(item)
    return items


def time_render(mass_email, items, label: str = "render") -> tuple[float, list]:
    from campaigns.authoring.rendering import CompiledMassEmail

    started = time.process_time()
    compiled = CompiledMassEmail.compile(mass_email)
    compile_seconds = time.process_time() - started
    rendered = [compiled.render(item) for item in items[:1]]
    started = time.process_time()
    render = compiled.render
    for item in items:
        render(item)
    seconds = time.process_time() - started
    print(f"{label}: compile once: {compile_seconds * 1000:.1f} ms")
    return seconds, rendered


def time_django(mass_email, items, link_ids) -> float:
    """Per recipient: tokens and str.replace for the values, then EmailMultiAlternatives."""
    from django.core.mail import EmailMultiAlternatives
    from django.urls import reverse

    from campaigns.authoring import html_body, tokens

    template = mass_email.email_template
    html_source = template.body_html.replace("</body>", '<p><a href="{optOutUrl}">x</a></p></body>')
    text_source = html_body.to_plain_text(html_source)
    site = "https://news.example.org"
    started = time.process_time()
    for item in items:
        contact = item.contact
        values = {
            "{Person.firstName}": contact.first_name,
            "{Person.lastName}": contact.last_name,
            "{Person.name}": contact.name,
            "{optOutUrl}": site
            + reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)]),
        }
        for link_id in link_ids:
            token = tokens.make(tokens.CLICK, item.pk, link_id)
            values[f"{{trackingUrl:{link_id}}}"] = site + reverse("tracking:click", args=[token])
        html, text, subject = html_source, text_source, template.subject
        for key, value in values.items():
            html, text, subject = (
                html.replace(key, value),
                text.replace(key, value),
                subject.replace(key, value),
            )
        pixel = site + reverse("tracking:open", args=[tokens.make(tokens.OPEN, item.pk)])
        html = html.replace("</body>", f'<img src="{pixel}" width="1" height="1"></body>')
        message = EmailMultiAlternatives(
            subject,
            text,
            "Tienda Ejemplo <noticias@shop.example>",
            [f"{contact.name} <{item.email}>"],
            headers={
                "X-Queue-Item-Id": tokens.make(tokens.HEADER, item.pk),
                "List-Unsubscribe": f"<{values['{optOutUrl}']}one-click/>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Precedence": "bulk",
            },
        )
        message.attach_alternative(html, "text/html")
        message.message().as_bytes()
    return time.process_time() - started


def time_floor(prebuilt: bytes, count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        bytearray(prebuilt)
    return time.process_time() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ROUNDS = 10


def time_smtp(port: int, compiled, items, prebuilt) -> tuple[float, float]:
    """Wall seconds to send len(items) prebuilt messages, and to render and send the items.

    Both go over one connection in alternating rounds, so that a machine busy with other work
    slows both alike.
    """
    floor = pipeline = 0.0
    size = len(items) // ROUNDS
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as connection:
        for start in range(0, size * ROUNDS, size):
            started = time.perf_counter()
            for _ in range(size):
                connection.sendmail(prebuilt.envelope_from, [prebuilt.recipient], prebuilt.data)
            floor += time.perf_counter() - started
            started = time.perf_counter()
            for item in items[start : start + size]:
                message = compiled.render(item)
                connection.sendmail(message.envelope_from, [message.recipient], message.data)
            pipeline += time.perf_counter() - started
    return floor, pipeline


def bench_smtp(compiled, items, prebuilt) -> tuple[float, float]:
    """time_smtp against a Postfix smtp-sink started on a free loopback port (and stopped)."""
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink drops root privileges
    process = subprocess.Popen(
        [sink, *user, f"127.0.0.1:{port}", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):  # wait (bounded) until the sink listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        return time_smtp(port, compiled, items, prebuilt)
    finally:
        process.terminate()
        process.wait(timeout=10)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} msg/s  ({seconds:.2f} s for {count:,})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="messages per measurement")
    parser.add_argument("--smtp", action="store_true", help="also send through smtp-sink")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mm-bench-render-") as var_dir:
        setup_django(None, var_dir)
        from campaigns.authoring.rendering import CompiledMassEmail

        mass_email, link_ids = make_mass_email()
        items = make_items(mass_email, args.count)
        render_seconds, sample = time_render(mass_email, items)
        authored = make_authored_mass_email(mass_email)
        authored_items = [item for item in make_items(authored, args.count)]
        authored_seconds, authored_sample = time_render(authored, authored_items, "authored")
        from campaigns.authoring import starters

        big = design_mjml(50)
        visual_mass_email = make_visual_mass_email(mass_email, big, "Otoño (visual)")
        compile_ms, mjml_ms = time_compile(visual_mass_email)
        visual_seconds, visual_sample = time_render(
            visual_mass_email, make_items(visual_mass_email, args.count), "visual"
        )
        same = make_visual_mass_email(mass_email, big, "Otoño (HTML)", as_source=True)
        same_seconds, _sample = time_render(same, make_items(same, args.count), "same-html")
        newsletter = starters.starters("https://news.example.org", "es")[0].mjml
        starter = make_visual_mass_email(mass_email, newsletter, "Boletín (visual)")
        starter_seconds, starter_sample = time_render(
            starter, make_items(starter, args.count), "starter"
        )
        add_dkim_key("shop.example")  # from here on, messages are signed
        dkim_seconds, dkim_sample = time_render(authored, authored_items, "dkim")
        prebuilt = sample[0]
        floor_seconds = time_floor(prebuilt.data, args.count)
        django_seconds = time_django(mass_email, items, link_ids)
        print(f"message size: {len(prebuilt.data):,} bytes (HTML and text, quoted-printable)")
        print(f"authored message size: {len(authored_sample[0].data):,} bytes")
        print(f"render  {rate(args.count, render_seconds)}")
        print(f"authored {rate(args.count, authored_seconds)}")
        print(f"dkim    {rate(args.count, dkim_seconds)}")
        links = big.count('href="')
        print(f"visual  {rate(args.count, visual_seconds)}  (50 blocks, {links} links)")
        print(f"same-html {rate(args.count, same_seconds)}  (its HTML as a source template)")
        print(f"starter {rate(args.count, starter_seconds)}  (the newsletter starter design)")
        print(
            f"visual message size: {len(visual_sample[0].data):,} bytes; starter: "
            f"{len(starter_sample[0].data):,} bytes"
        )
        print(f"django  {rate(args.count, django_seconds)}")
        print(f"floor   {rate(args.count, floor_seconds)}")
        print(f"render is {django_seconds / render_seconds:.1f}x Django's EmailMultiAlternatives")
        print(f"render / floor = {floor_seconds / render_seconds:.4f}")
        verdict = "yes" if args.count / render_seconds >= 10_000 else "NO"
        print(f"render >= 10,000 msg/s per core: {verdict}")
        verdict = "yes" if args.count / authored_seconds >= 10_000 else "NO"
        print(f"authored (inlined, every link tracked, UTM) >= 10,000 msg/s per core: {verdict}")
        verdict = "yes" if compile_ms < 200 else "NO"
        print(
            f"visual compile, 50 blocks: {compile_ms:.1f} ms (MJML checked and compiled: "
            f"{mjml_ms:.1f} ms); < 200 ms: {verdict}"
        )
        print(f"visual / same HTML as a source template = {same_seconds / visual_seconds:.2f}")
        verdict = "yes" if args.count / starter_seconds >= 10_000 else "NO"
        print(f"starter design >= 10,000 msg/s per core: {verdict}")
        if args.smtp:
            compiled = CompiledMassEmail.compile(mass_email)
            floor, pipeline = bench_smtp(compiled, items, prebuilt)
            sent = args.count // ROUNDS * ROUNDS
            print(f"smtp prebuilt           {rate(sent, floor)}")
            print(f"smtp render + send      {rate(sent, pipeline)}")
            ratio = floor / pipeline
            verdict = "yes" if ratio >= 0.5 else "NO"
            print(f"pipeline / prebuilt = {ratio:.2f} (target >= 0.5: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
