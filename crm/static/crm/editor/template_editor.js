/* The email template form: HTML source editor (CodeMirror), live preview, insert buttons.
 *
 * The preview is rendered by the server (admin:crm_emailtemplate_live_preview) for the chosen
 * recipient, as you type, and shown in a sandboxed frame (no scripts, no same-origin access).
 * Placeholders and a campaign's tracking URL codes are inserted at the cursor of the field
 * last focused (subject, preheader, HTML or plain text). Without JavaScript the form is the
 * plain Django admin form. A visual template's preview is compiled from its MJML
 * (campaigns/builder/builder.js keeps it in the form and calls window.MassmailTemplateEditor).
 */
(function () {
  "use strict";
  // The page's CSP nonce, from this script's own tag: CodeMirror adds its styles with it.
  const nonce = document.currentScript ? document.currentScript.nonce : "";
  const configNode = document.getElementById("template-editor-config");
  const form = document.getElementById("emailtemplate_form");
  if (!configNode || !form) return;
  const config = JSON.parse(configNode.textContent);
  const t = config.text;
  const names = ["subject", "preheader", "body_html", "body_text"];
  const fields = {};
  names.forEach((name) => { fields[name] = document.getElementById("id_" + name); });
  if (!fields.body_html) return;
  const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;

  function element(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([key, value]) => {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    });
    (children || []).forEach((child) => node.append(child));
    return node;
  }

  // Layout: the fields on the left, the preview on the right (stacked on narrow screens).
  const fieldset = fields.body_html.closest("fieldset");
  const layout = element("div", { class: "template-editor-layout" });
  fieldset.before(layout);
  const left = element("div", { class: "template-editor-fields" });
  layout.append(left);
  left.append(fieldset);

  // The source editor replaces the HTML textarea, which stays in the form, kept in sync.
  let editor = null;
  let lastField = "body_html";
  if (window.MassmailCodeMirror) {
    const holder = element("div", { class: "template-source-editor", "data-field": "body_html" });
    fields.body_html.after(holder);
    fields.body_html.hidden = true;
    const changed = (value) => {
      fields.body_html.value = value;
      schedule();
    };
    editor = window.MassmailCodeMirror.createHtmlEditor(
      holder, fields.body_html.value, changed, nonce
    );
    editor.contentDOM.addEventListener("focus", () => { lastField = "body_html"; });
  }
  names.forEach((name) => {
    const field = fields[name];
    if (!field) return;
    field.addEventListener("focus", () => { lastField = name; });
    field.addEventListener("input", schedule);
  });

  function insert(text) {
    // A visual template's HTML comes from its design: chips then go to the subject (the
    // builder's text toolbar has its own placeholder menu).
    const visual = form.querySelector("input[name=editor][value=visual]:checked");
    if (lastField === "body_html" && visual) lastField = "subject";
    if (lastField === "body_html" && editor) {
      window.MassmailCodeMirror.insertAtCursor(editor, text);
      return;
    }
    const field = fields[lastField];
    const start = field.selectionStart ?? field.value.length;
    field.setRangeText(text, start, field.selectionEnd ?? start, "end");
    field.focus();
    schedule();
  }

  // Insert buttons: placeholders, then the codes of a chosen campaign.
  const chips = element("div", { class: "template-insert-chips" });
  config.placeholders.forEach((name) => {
    const button = element("button", { type: "button", class: "template-chip", text: name });
    button.addEventListener("mousedown", (event) => event.preventDefault()); // keep the cursor
    button.addEventListener("click", () => insert(name));
    chips.append(button);
  });
  const campaign = element("select", { class: "template-campaign", "aria-label": t.campaign }, [
    element("option", { value: "", text: t.noCampaign }),
  ]);
  config.campaigns.forEach(([id, name]) => campaign.append(element("option", { value: id, text: name })));
  const codes = element("div", { class: "template-insert-codes" });
  campaign.addEventListener("change", async () => {
    codes.replaceChildren();
    if (!campaign.value) return;
    const response = await fetch(config.urls.codes + "?campaign=" + encodeURIComponent(campaign.value), { credentials: "same-origin" });
    const data = await response.json();
    if (!data.codes.length) codes.append(element("span", { class: "help", text: t.noCodes }));
    data.codes.forEach((link) => {
      const button = element("button", { type: "button", class: "template-chip", title: link.url, text: link.code + " " + link.name });
      button.addEventListener("mousedown", (event) => event.preventDefault());
      button.addEventListener("click", () => insert(link.code));
      codes.append(button);
    });
  });
  const insertBox = element("div", { class: "template-insert" }, [
    element("p", { class: "template-insert-title", text: t.insert }),
    chips,
  ]);
  if (config.campaigns.length) {
    insertBox.append(element("label", { text: t.campaign + " " }, [campaign]), codes);
  }
  fieldset.before(insertBox);

  // The preview panel.
  const person = element("select", { class: "template-person", "aria-label": t.recipient }, [
    element("option", { value: "sample", text: t.sample }),
    element("option", { value: "me", text: t.me }),
  ]);
  const search = element("input", { type: "search", class: "template-person-search", placeholder: t.search, "aria-label": t.search });
  const desktop = element("button", { type: "button", class: "template-width selected", "data-width": "desktop", text: t.desktop });
  const mobile = element("button", { type: "button", class: "template-width", "data-width": "mobile", text: t.mobile });
  const subject = element("strong", { class: "template-preview-subject" });
  const preheader = element("span", { class: "template-preview-preheader" });
  const frame = element("iframe", { class: "template-preview-frame", sandbox: "", referrerpolicy: "no-referrer", title: t.html });
  const frameBox = element("div", { class: "template-preview-framebox desktop" }, [frame]);
  const text = element("pre", { class: "template-preview-text" });
  const errors = element("ul", { class: "errorlist template-preview-errors", hidden: "" });
  const panel = element("section", { class: "template-preview-panel", "aria-label": t.preview }, [
    element("h2", { text: t.preview }),
    element("div", { class: "template-preview-controls" }, [
      element("label", { text: t.recipient + " " }, [person]), search, desktop, mobile,
    ]),
    errors,
    element("div", { class: "template-preview-inbox" }, [subject, " ", preheader]),
    frameBox,
    element("h3", { text: t.text }),
    text,
  ]);
  layout.append(panel);

  [desktop, mobile].forEach((button) => button.addEventListener("click", () => {
    [desktop, mobile].forEach((other) => other.classList.toggle("selected", other === button));
    frameBox.className = "template-preview-framebox " + button.dataset.width;
  }));
  person.addEventListener("change", refresh);
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const response = await fetch(config.urls.people + "?q=" + encodeURIComponent(search.value), { credentials: "same-origin" });
      const data = await response.json();
      person.querySelectorAll("option.found").forEach((option) => option.remove());
      data.people.forEach((found) => person.append(element("option", { class: "found", value: found.value, text: found.label })));
      if (data.people.length) {
        person.value = data.people[0].value;
        refresh();
      }
    }, 300);
  });

  let timer = null;
  let sequence = 0;
  let compiled = ""; // a visual template's HTML, as the server last compiled it
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }
  async function refresh() {
    const mine = ++sequence;
    const body = new FormData();
    names.forEach((name) => body.append(name, fields[name] ? fields[name].value : ""));
    // A visual template (campaigns/builder/builder.js) is previewed from its MJML.
    const editorChoice = form.querySelector("input[name=editor]:checked");
    const mjml = form.querySelector("[name=body_mjml]");
    body.append("editor", editorChoice ? editorChoice.value : "source");
    body.append("body_mjml", mjml ? mjml.value : "");
    body.append("person", person.value);
    let data;
    try {
      const response = await fetch(config.urls.live, {
        method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": csrf },
      });
      data = await response.json();
      if (!response.ok) throw new Error(data.error || response.statusText);
    } catch (error) {
      if (mine !== sequence) return;
      errors.replaceChildren(element("li", { text: t.failed + " " + error.message }));
      errors.hidden = false;
      return;
    }
    if (mine !== sequence) return; // an answer to an older request
    compiled = data.compiled || "";
    subject.textContent = data.rendered.subject;
    preheader.textContent = data.rendered.preheader;
    frame.srcdoc = data.rendered.html;
    text.textContent = data.rendered.text;
    const messages = Object.entries(data.errors);
    errors.replaceChildren(...(messages.length ? [element("li", { text: t.errors })] : []),
      ...messages.map(([field, message]) => element("li", { "data-field": field, text: message })));
    errors.hidden = !messages.length;
    panel.dataset.rendered = String(mine);
  }
  // For the visual builder: ask for a new preview, read the design's HTML, fill the source.
  window.MassmailTemplateEditor = {
    schedule,
    compiled: () => compiled,
    setSource(value) {
      fields.body_html.value = value;
      if (editor) editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } });
      schedule();
    },
  };
  refresh();
})();
