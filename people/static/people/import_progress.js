// The import's page: while it is queued or running, read its progress every second.
(function () {
  "use strict";
  const box = document.getElementById("import-summary");
  if (!box || !["queued", "running"].includes(box.dataset.status)) return;
  const bar = box.querySelector("progress");
  function update() {
    fetch(box.dataset.progressUrl, { credentials: "same-origin" })
      .then((response) => response.json())
      .then((data) => {
        bar.value = data.percent;
        for (const cell of box.querySelectorAll("[data-field]")) {
          if (cell.dataset.field in data) cell.textContent = data[cell.dataset.field];
        }
        if (data.status === "queued" || data.status === "running") {
          setTimeout(update, 1000);
        } else {
          window.location.reload(); // the summary, the rejected-rows file and Undo
        }
      })
      .catch(() => setTimeout(update, 5000));
  }
  setTimeout(update, 1000);
})();
