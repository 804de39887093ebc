// The edit form's live preview: after the editor stops typing for a moment, post the
// form to the preview endpoint and show the fragment it returns (the archive's own
// markup, escaped by the server) or the fields to fix. Without this script the
// Preview button does the same with a full page.
(function () {
  "use strict";
  var form = document.getElementById("edit-form");
  var pane = document.getElementById("preview");
  var status = document.getElementById("preview-status");
  if (!form || !pane || !status || !window.fetch || !window.FormData) {
    return;
  }
  var url = form.getAttribute("data-preview");
  var timer = null;
  var latest = 0;
  var WAIT_MS = 350;

  function show(message, busy) {
    status.textContent = message;
    pane.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function refresh() {
    var mine = ++latest;
    show("Updating the preview…", true);
    fetch(url, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (response) {
      return response.text().then(function (html) {
        if (mine !== latest) {
          return; // a later keystroke's answer is on its way
        }
        if (response.ok || response.status === 422) {
          pane.innerHTML = html;
          show(response.ok ? "Preview updated: as the archive page shows it." :
            "The preview waits for the fields listed to be fixed.", false);
          form.setAttribute("data-previewed", String(mine));
        } else {
          show("The preview could not be updated (" + response.status +
            "). Use the Preview button.", false);
        }
      });
    }).catch(function () {
      if (mine === latest) {
        show("The preview could not be updated. Use the Preview button.", false);
      }
    });
  }

  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, WAIT_MS);
  });

  // Typing that came before this script ran (it is deferred, and may arrive late on a
  // slow connection) had no listener: preview it now.
  var fields = form.querySelectorAll("input:not([type=hidden]), textarea");
  for (var i = 0; i < fields.length; i++) {
    if (fields[i].value !== fields[i].defaultValue) {
      refresh();
      break;
    }
  }
})();
