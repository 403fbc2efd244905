/* The email template form's visual builder: GrapesJS with its MJML plugin (vendor/), beside the
 * HTML source editor. A template is either "HTML source" or "Visual builder" (the radio
 * buttons of the form's `editor` field); the builder opens when the latter is chosen.
 *
 * What the builder holds goes into two hidden fields on every change and before the form is
 * sent: `design` (GrapesJS's project data, to open the design again as it was left) and
 * `body_mjml` (its MJML). The server checks both and compiles the MJML into the HTML that is
 * sent; the live preview (template_editor.js) shows that server output, not the canvas.
 * Nothing is loaded from another host: no web fonts, no icon font, our own icons and images.
 */
(function () {
  "use strict";
  const vendor = window.MassmailBuilderVendor;
  const configNode = document.getElementById("template-builder-config");
  const editorNode = document.getElementById("template-editor-config");
  const form = document.getElementById("emailtemplate_form");
  if (!vendor || !configNode || !editorNode || !form) return;
  const config = JSON.parse(configNode.textContent);
  const editorConfig = JSON.parse(editorNode.textContent);
  const t = config.text;
  const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
  const designInput = form.querySelector("[name=design]");
  const mjmlInput = form.querySelector("[name=body_mjml]");
  const radios = Array.from(form.querySelectorAll("input[name=editor]"));
  const htmlRow = form.querySelector(".field-body_html");
  if (!designInput || !mjmlInput || !radios.length) return;
  const EMPTY = "<mjml><mj-body></mj-body></mjml>";
  const LINK_TYPES = ["mj-button", "mj-image", "link", "mj-social-element", "mj-navbar-link"];
  let gjs = null;
  let codes = []; // the chosen campaign's tracking URLs: [{code, name, url}]

  function element(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([key, value]) => {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    });
    (children || []).forEach((child) => node.append(child));
    return node;
  }
  function escapeHtml(text) {
    return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }
  function mode() {
    const checked = radios.find((radio) => radio.checked);
    return checked ? checked.value : "source";
  }

  // The builder's place: just below the editor choice, the whole width of the form.
  const editorRow = radios[0].closest(".form-row") || radios[0].closest("fieldset");
  const starterSelect = element("select", { class: "builder-starters", "aria-label": t.starters }, [
    element("option", { value: "", text: t.startersChoose }),
    ...config.starters.map((starter) => element("option", { value: starter.key, text: starter.label })),
  ]);
  const campaignSelect = element("select", { class: "builder-campaign", "aria-label": t.campaign }, [
    element("option", { value: "", text: editorConfig.text.noCampaign }),
    ...editorConfig.campaigns.map(([id, name]) => element("option", { value: id, text: name })),
  ]);
  const message = element("p", { class: "errornote builder-message", hidden: "" });
  const toolbar = element("div", { class: "builder-toolbar" }, [
    element("label", { text: t.starters + " " }, [starterSelect]),
    editorConfig.campaigns.length ? element("label", { text: t.campaign + " " }, [campaignSelect]) : "",
  ]);
  const canvas = element("div", { class: "builder-canvas" });
  const box = element("section", { class: "template-builder", "aria-label": t.builder, hidden: "" }, [
    element("h2", { text: t.builder }), element("p", { class: "help", text: t.help }), toolbar, message, canvas,
  ]);
  editorRow.after(box);
  // The builder sits inside the template form: Enter in one of its boxes applies the value
  // (as leaving the box does) instead of sending the form.
  box.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !event.target.matches("input")) return;
    event.preventDefault();
    event.target.dispatchEvent(new Event("change", { bubbles: true }));
  });

  function showMessage(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  // Placeholders for the text toolbar: person fields (a fallback asked for), built-ins, links.
  const personNames = editorConfig.placeholders.filter((name) => /^\{(Person|Contact|Lead|Account|User)\./.test(name));
  const builtins = editorConfig.placeholders.filter((name) => ["{today}", "{now}", "{currentYear}"].includes(name));
  function linkChoices() {
    return [
      { value: "{optOutUrl}", label: t.optOutLink, text: t.unsubscribe },
      { value: "{webViewUrl}", label: t.webViewLink, text: t.viewInBrowser },
      ...codes.map((link) => ({ value: link.code, label: link.code + " " + link.name, text: link.name })),
    ];
  }
  function fillPlaceholderMenu(select) {
    const groups = [
      [t.personFields, personNames.map((name) => ({ value: name, label: name }))],
      [t.builtins, builtins.map((name) => ({ value: name, label: name }))],
      [t.links, linkChoices().map((choice) => ({ value: "link:" + choice.value, label: choice.label }))],
    ];
    select.replaceChildren(element("option", { value: "", text: t.insertPlaceholder }));
    groups.forEach(([label, options]) => {
      if (!options.length) return;
      select.append(element("optgroup", { label }, options.map((o) => element("option", { value: o.value, text: o.label }))));
    });
  }
  function placeholderHtml(value, selected) {
    if (value.startsWith("link:")) {
      const choice = linkChoices().find((c) => c.value === value.slice(5));
      const text = selected.trim() || (choice ? choice.text : value.slice(5));
      return `<a href="${escapeHtml(value.slice(5))}">${escapeHtml(text)}</a>`;
    }
    if (!personNames.includes(value)) return escapeHtml(value);
    const fallback = window.prompt(t.fallbackPrompt.replace("%s", value), "");
    if (fallback === null) return "";
    const clean = fallback.replace(/[{}\r\n|]/g, "").trim();
    return escapeHtml(clean ? value.slice(0, -1) + "|" + clean + "}" : value);
  }
  function placeholderAction() {
    const select = element("select", { class: "builder-placeholder-menu", "aria-label": t.insertPlaceholder });
    fillPlaceholderMenu(select);
    select.addEventListener("mousedown", () => fillPlaceholderMenu(select));
    return {
      name: "massmail-placeholders",
      icon: select,
      event: "change",
      attributes: { title: t.insertPlaceholder, class: "builder-placeholder-action" },
      result(rte) {
        const value = select.value;
        select.value = "";
        if (!value) return;
        const selection = rte.selection();
        const html = placeholderHtml(value, selection ? selection.toString() : "");
        if (html) rte.insertHTML(html);
      },
    };
  }

  // A link field (buttons, images, text links, social icons) that can take a tracking URL code.
  function addLinkTrait(editor) {
    editor.TraitManager.addType("massmail-link", {
      createInput({ trait }) {
        const input = element("input", { type: "text", class: "builder-link-url", placeholder: "https://…", "aria-label": trait.getLabel() });
        const select = element("select", { class: "builder-link-codes", "aria-label": t.linkTo });
        const fill = () => {
          select.replaceChildren(element("option", { value: "", text: t.linkTo }),
            ...linkChoices().map((c) => element("option", { value: c.value, text: c.label })));
        };
        fill();
        select.addEventListener("mousedown", fill);
        select.addEventListener("focus", fill);
        select.addEventListener("change", () => {
          if (select.value) input.value = select.value;
          select.value = "";
        });
        return element("div", { class: "builder-link" }, [input, select]);
      },
      onEvent({ elInput, component }) {
        component.addAttributes({ href: elInput.querySelector("input").value.trim() });
      },
      onUpdate({ elInput, component }) {
        elInput.querySelector("input").value = component.getAttributes().href || "";
      },
    });
    const link = { type: "massmail-link", name: "href", label: t.linkLabel };
    const traits = {
      "mj-button": [link],
      "mj-image": [link, { name: "alt", label: t.altLabel }, "title"],
      "mj-social-element": [link],
      "mj-navbar-link": [link],
    };
    Object.entries(traits).forEach(([type, list]) => {
      if (editor.Components.getType(type)) editor.Components.addType(type, { model: { defaults: { traits: list } } });
    });
    // Links written in a text get theirs when selected.
    editor.on("component:selected", (component) => {
      if (!component || !LINK_TYPES.includes(component.get("type"))) return;
      const trait = component.getTrait("href");
      if (trait && trait.get("type") !== "massmail-link") component.updateTrait("href", link);
    });
  }

  // Social icons come from our static files (mjml would fetch them from its own site).
  function iconFor(name) {
    const network = (name || "web").replace(/-noshare$/, "");
    return config.static + "social/" + (network === "x" ? "twitter-x" : network) + ".png";
  }
  function keepIconsLocal(editor) {
    editor.on("component:update:attributes", (component) => {
      if (component.get("type") !== "mj-social-element") return;
      const attributes = component.getAttributes();
      const src = attributes.src || "";
      if (!src.startsWith(config.static)) component.addAttributes({ src: iconFor(attributes.name) });
    });
  }

  function addBlocks(editor) {
    const font = 'font-family="Helvetica, Arial, sans-serif"';
    const text = `<mj-text ${font} font-size="15px" line-height="1.6" color="#333333">${escapeHtml(t.sampleText)}</mj-text>`;
    const column = `<mj-column>${text}</mj-column>`;
    const section = (n) => `<mj-section>${column.repeat(n)}</mj-section>`;
    const social = ["facebook", "instagram", "linkedin", "x"].map((name) =>
      `<mj-social-element name="${name}-noshare" src="${iconFor(name)}" href="https://www.example.com/">${name === "x" ? "X" : name[0].toUpperCase() + name.slice(1)}</mj-social-element>`).join("");
    const footer = `<mj-section><mj-column><mj-text ${font} font-size="12px" color="#6b7280" align="center">${escapeHtml(t.footerText)}<br><a href="{optOutUrl}" style="color:#6b7280;">${escapeHtml(t.unsubscribe)}</a></mj-text></mj-column></mj-section>`;
    const blocks = [
      ["section-1", t.section1, t.layout, section(1), "▭"],
      ["section-2", t.section2, t.layout, section(2), "▭▭"],
      ["section-3", t.section3, t.layout, section(3), "▭▭▭"],
      ["section-4", t.section4, t.layout, section(4), "▭▭▭▭"],
      ["text", t.text, t.content, text, "T"],
      ["image", t.image, t.content, `<mj-image src="${config.static}starters/placeholder.png" alt=""></mj-image>`, "▣"],
      ["button", t.button, t.content, `<mj-button ${font} href="https://www.example.com/" background-color="#1d4e89" border-radius="4px">${escapeHtml(t.buttonText)}</mj-button>`, "▶"],
      ["divider", t.divider, t.content, `<mj-divider border-width="1px" border-color="#d9dee5"></mj-divider>`, "—"],
      ["spacer", t.spacer, t.content, `<mj-spacer height="24px"></mj-spacer>`, "↕"],
      ["social", t.social, t.content, `<mj-social mode="horizontal" icon-size="28px">${social}</mj-social>`, "◉"],
      ["footer", t.footer, t.layout, footer, "✉"],
    ];
    blocks.forEach(([id, label, category, content, glyph]) => {
      editor.BlockManager.add("massmail-" + id, {
        label, category, content,
        media: `<span class="builder-block-glyph" aria-hidden="true">${glyph}</span>`,
        attributes: { "data-block": id },
      });
    });
  }

  // GrapesJS's own panel buttons would use an icon font from a CDN: our drawings instead.
  const svg = (body) => `<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${body}</svg>`;
  const PANEL_ICONS = {
    "sw-visibility": svg('<rect x="4" y="4" width="16" height="16" stroke-dasharray="3 3"/>'),
    preview: svg('<path d="M2 12c3-6 17-6 20 0-3 6-17 6-20 0z"/><circle cx="12" cy="12" r="3"/>'),
    fullscreen: svg('<path d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5"/>'),
    "export-template": svg('<path d="M8 7l-5 5 5 5M16 7l5 5-5 5"/>'),
    "open-sm": svg('<path d="M12 3s-6 7-6 11a6 6 0 0 0 12 0c0-4-6-11-6-11z"/>'),
    "open-tm": svg('<path d="M4 6h10M18 6h2M4 12h4M12 12h8M4 18h12M20 18h0"/><circle cx="16" cy="6" r="2"/><circle cx="10" cy="12" r="2"/><circle cx="18" cy="18" r="2"/>'),
    "open-layers": svg('<path d="M12 3l9 5-9 5-9-5 9-5zM3 13l9 5 9-5"/>'),
    "open-blocks": svg('<rect x="4" y="4" width="7" height="7"/><rect x="13" y="4" width="7" height="7"/><rect x="4" y="13" width="7" height="7"/><rect x="13" y="13" width="7" height="7"/>'),
  };
  function drawPanelIcons(editor) {
    editor.Panels.getPanels().forEach((panel) => panel.get("buttons").forEach((button) => {
      const icon = PANEL_ICONS[button.id];
      if (icon) button.set({ label: icon, className: "builder-panel-button" });
    }));
    const blocks = editor.Panels.getButton("views", "open-blocks");
    if (blocks) blocks.set("active", true);
  }

  function locale() {
    if (config.language !== "es") return {};
    return { es: Object.assign({}, ...vendor.locales.es) };
  }

  function sync() {
    if (!gjs) return;
    designInput.value = JSON.stringify(gjs.getProjectData());
    mjmlInput.value = gjs.getHtml();
    if (window.MassmailTemplateEditor) window.MassmailTemplateEditor.schedule();
  }

  function start() {
    const design = designInput.value ? JSON.parse(designInput.value) : {};
    const hasDesign = design && Array.isArray(design.pages) && design.pages.length;
    gjs = vendor.grapesjs.init({
      container: canvas,
      height: "760px",
      storageManager: false,
      cssIcons: "", // GrapesJS would load an icon font from a CDN
      fromElement: false,
      i18n: { locale: config.language, detectLocale: false, localeFallback: "en", messagesAdd: locale() },
      assetManager: {
        upload: config.upload,
        uploadName: "files",
        multiUploadSuffix: "",
        headers: { "X-CSRFToken": csrf },
        credentials: "same-origin",
        embedAsBase64: false,
        autoAdd: true,
      },
      richTextEditor: { actions: ["bold", "italic", "underline", "strikethrough", "link", placeholderAction()] },
      plugins: [(editor) => vendor.mjmlPlugin(editor, {
        blocks: [],
        // A font name no design uses: mjml then adds none of its default web fonts.
        fonts: { "massmail-no-web-fonts": "" },
        imagePlaceholderSrc: config.static + "starters/placeholder.png",
        importPlaceholder: "",
      })],
      projectData: hasDesign ? design : undefined,
    });
    addLinkTrait(gjs);
    keepIconsLocal(gjs);
    addBlocks(gjs);
    gjs.on("load", () => {
      drawPanelIcons(gjs);
      if (!hasDesign) gjs.setComponents(mjmlInput.value.trim() || EMPTY);
      gjs.on("update", sync);
      sync();
      box.dataset.ready = "1";
    });
    gjs.on("asset:upload:response", (response) => showMessage(response && response.error ? response.error : ""));
    gjs.on("asset:upload:error", (error) => showMessage(t.uploadFailed + " " + (error && error.message ? error.message : "")));
  }

  starterSelect.addEventListener("change", () => {
    const starter = config.starters.find((s) => s.key === starterSelect.value);
    starterSelect.value = "";
    if (!starter || !gjs) return;
    if (mjmlInput.value && mjmlInput.value.replace(/\s/g, "") !== EMPTY && !window.confirm(t.replace)) return;
    gjs.setComponents(starter.mjml);
    sync();
  });
  campaignSelect.addEventListener("change", async () => {
    codes = [];
    if (!campaignSelect.value) return;
    const response = await fetch(editorConfig.urls.codes + "?campaign=" + encodeURIComponent(campaignSelect.value), { credentials: "same-origin" });
    codes = (await response.json()).codes;
  });

  function show(visual) {
    box.hidden = !visual;
    if (htmlRow) htmlRow.hidden = visual;
    const layout = document.querySelector(".template-editor-layout");
    if (layout) layout.classList.toggle("visual", visual);
    if (visual && !gjs) start();
    if (window.MassmailTemplateEditor) window.MassmailTemplateEditor.schedule();
  }
  let current = mode();
  radios.forEach((radio) => radio.addEventListener("change", () => {
    const wanted = mode();
    const html = form.querySelector("[name=body_html]").value.trim();
    const warning = wanted === "visual" ? (html ? t.toVisual : "") : t.toSource;
    if (warning && !window.confirm(warning)) {
      radios.forEach((other) => { other.checked = other.value === current; });
      return;
    }
    if (wanted === "source" && window.MassmailTemplateEditor) {
      const compiled = window.MassmailTemplateEditor.compiled();
      if (compiled) window.MassmailTemplateEditor.setSource(compiled);
    }
    current = wanted;
    show(wanted === "visual");
  }));
  form.addEventListener("submit", () => { if (mode() === "visual") sync(); });
  show(current === "visual");
})();
