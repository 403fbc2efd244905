// The import's page: while it is queued, running or being undone, read its progress every
// second.
(function () {
  "use strict";
  const WORKING = ["queued", "running", "undoing"];
  const box = document.getElementById("import-summary");
  if (!box || !WORKING.includes(box.dataset.status)) return;
  const bar = box.querySelector("progress");
  function update() {
    fetch(box.dataset.progressUrl, { credentials: "same-origin" })
      .then((response) => response.json())
      .then((data) => {
        if (data.percent === null) bar.removeAttribute("value");
        else bar.value = data.percent;
        for (const cell of box.querySelectorAll("[data-field]")) {
          if (cell.dataset.field in data) cell.textContent = data[cell.dataset.field];
        }
        if (WORKING.includes(data.status)) {
          setTimeout(update, 1000);
        } else {
          window.location.reload(); // the summary, the rejected-rows file and Undo
        }
      })
      .catch(() => setTimeout(update, 5000));
  }
  setTimeout(update, 1000);
})();
