// The builder's third-party code as one global (MassmailBuilderVendor): GrapesJS, its MJML
// plugin (with mjml-browser, which draws the canvas), and both projects' Spanish words.
import grapesjs from "grapesjs";
import mjmlPlugin from "grapesjs-mjml";
import grapesEs from "grapesjs/locale/es.mjs";
import mjmlEs from "grapesjs-mjml/locale/es.js";

window.MassmailBuilderVendor = { grapesjs, mjmlPlugin, locales: { es: [grapesEs, mjmlEs] } };
