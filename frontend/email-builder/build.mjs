// Builds the visual email builder's static files from the pinned npm packages (npm ci first):
//   vendor/builder-vendor.js   GrapesJS + grapesjs-mjml (+ mjml-browser) + Spanish words, one IIFE
//   vendor/grapes.min.css      GrapesJS's own style sheet
//   vendor/LICENSES.txt        the licence of every package inside the bundle
//   social/<network>.png       round social icons (simple-icons' CC0 shapes), for the canvas and
//                              for sent mail (mjml's social_icon_origin points here)
//   starters/<name>.png        the starter designs' images, drawn from art/*.svg
// Run from this folder: npm ci && npm run build. Nothing here is needed at run time.
import { Resvg } from "@resvg/resvg-js";
import * as esbuild from "esbuild";
import fs from "node:fs";
import path from "node:path";
import * as icons from "simple-icons";

const here = path.dirname(new URL(import.meta.url).pathname);
const out = path.resolve(here, "../../campaigns/static/campaigns/builder");
// Drawn folders are made anew; vendor/ keeps its README.md (written by hand).
for (const folder of ["social", "starters"]) {
  fs.rmSync(path.join(out, folder), { recursive: true, force: true });
}
for (const folder of ["vendor", "social", "starters"]) {
  fs.mkdirSync(path.join(out, folder), { recursive: true });
}
const versions = ["grapesjs", "grapesjs-mjml"].map(
  (name) => `${name} ${readJson(`node_modules/${name}/package.json`).version}`
);

const result = await esbuild.build({
  entryPoints: [path.join(here, "src/vendor.js")],
  bundle: true,
  minify: true,
  format: "iife",
  legalComments: "eof",
  metafile: true,
  banner: {
    js: `/* ${versions.join(", ")}: BSD-3-Clause and MIT licences, see LICENSES.txt. Built by frontend/email-builder (npm ci && npm run build). */`,
  },
  outfile: path.join(out, "vendor/builder-vendor.js"),
});
fs.copyFileSync(
  path.join(here, "node_modules/grapesjs/dist/css/grapes.min.css"),
  path.join(out, "vendor/grapes.min.css")
);
fs.writeFileSync(path.join(out, "vendor/LICENSES.txt"), licences(result.metafile));

// Brand colours and shapes of the networks mjml knows (file names as mjml and mrml use them).
const LINKEDIN = "M5.3 8.6h2.9V19H5.3zM6.75 3.8a1.7 1.7 0 1 1 0 3.4 1.7 1.7 0 0 1 0-3.4zM10.1 8.6h2.8v1.4c.4-.8 1.4-1.6 2.9-1.6 3 0 3.6 2 3.6 4.6V19h-2.9v-5.3c0-1.3 0-2.9-1.8-2.9s-2 1.4-2 2.8V19h-2.9z";
const WEB = "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm6.9 6h-2.95a15.7 15.7 0 0 0-1.38-3.56A8 8 0 0 1 18.9 8zM12 4.04c.83 1.2 1.48 2.53 1.91 3.96h-3.82c.43-1.43 1.08-2.76 1.91-3.96zM4.26 14a8.2 8.2 0 0 1 0-4h3.38a16.5 16.5 0 0 0 0 4zm.82 2h2.95c.32 1.25.78 2.45 1.38 3.56A8 8 0 0 1 5.08 16zm2.95-8H5.08a8 8 0 0 1 4.33-3.56A15.7 15.7 0 0 0 8.03 8zM12 19.96A14.1 14.1 0 0 1 10.09 16h3.82A14.1 14.1 0 0 1 12 19.96zM14.34 14H9.66a14.7 14.7 0 0 1 0-4h4.68a14.7 14.7 0 0 1 0 4zm.25 5.56c.6-1.11 1.06-2.31 1.38-3.56h2.95a8 8 0 0 1-4.33 3.56zM16.36 14a16.5 16.5 0 0 0 0-4h3.38a8.2 8.2 0 0 1 0 4z";
const SOCIAL = {
  facebook: icons.siFacebook,
  "twitter-x": icons.siX,
  twitter: icons.siX,
  instagram: icons.siInstagram,
  linkedin: { hex: "0A66C2", path: LINKEDIN },
  youtube: icons.siYoutube,
  pinterest: icons.siPinterest,
  github: icons.siGithub,
  medium: icons.siMedium,
  snapchat: { ...icons.siSnapchat, hex: "E0C600" },
  soundcloud: icons.siSoundcloud,
  tumblr: icons.siTumblr,
  vimeo: icons.siVimeo,
  xing: icons.siXing,
  dribbble: icons.siDribbble,
  web: { hex: "4F6D7A", path: WEB },
  "google-plus": { hex: "4F6D7A", path: WEB },
};
for (const [name, icon] of Object.entries(SOCIAL)) {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 24 24">` +
    `<circle cx="12" cy="12" r="12" fill="#${icon.hex}"/>` +
    `<path transform="translate(5.5 5.5) scale(0.5417)" fill="#ffffff" d="${icon.path}"/></svg>`;
  writePng(path.join(out, "social", `${name}.png`), svg);
}
for (const file of fs.readdirSync(path.join(here, "art"))) {
  const svg = fs.readFileSync(path.join(here, "art", file), "utf8");
  writePng(path.join(out, "starters", file.replace(/\.svg$/, ".png")), svg);
}
console.log(`built ${versions.join(", ")} into ${out}`);

function writePng(file, svg) {
  const png = new Resvg(svg, { font: { loadSystemFonts: false } }).render().asPng();
  fs.writeFileSync(file, png);
}

function readJson(relative) {
  return JSON.parse(fs.readFileSync(path.join(here, relative), "utf8"));
}

// Every npm package with a file in the bundle, with its licence text.
function licences(metafile) {
  // The dist files of grapesjs and grapesjs-mjml already hold their dependencies (backbone,
  // underscore, codemirror, mjml-browser…): those are listed too.
  const packages = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (!match) continue;
    packages.add(match[1]);
    const meta = readJson(`node_modules/${match[1]}/package.json`);
    Object.keys(meta.dependencies || {})
      .filter((name) => !name.startsWith("@types/"))
      .forEach((name) => packages.add(name));
  }
  const parts = [...packages].sort().map((name) => {
    const folder = path.join(here, "node_modules", name);
    const meta = readJson(`node_modules/${name}/package.json`);
    const file = fs.readdirSync(folder).find((f) => /^licen[cs]e/i.test(f));
    const text = file ? fs.readFileSync(path.join(folder, file), "utf8").trim() : "(no licence file)";
    return `${name} ${meta.version} (${meta.license})\n${"-".repeat(72)}\n${text}\n`;
  });
  return `Packages bundled into builder-vendor.js\n\n${parts.join("\n")}`;
}
