// devflow serve: keeps an open page current from the server's event stream, without a reload.
// On each new event it fetches the page's parts (server-rendered and escaped there) and swaps
// in those that changed, leaving alone a part where a person is typing a note.
(function () {
  "use strict";
  var main = document.getElementById("live");
  if (!main || !window.EventSource || !window.fetch) {
    return;
  }
  var fragment = main.getAttribute("data-fragment");
  var busy = false;
  var again = false;

  function typingIn(node) {
    var active = document.activeElement;
    if (active && node.contains(active) && (active.tagName === "TEXTAREA" || active.tagName === "INPUT")) {
      return true;
    }
    var notes = node.querySelectorAll("textarea");
    for (var i = 0; i < notes.length; i++) {
      if (notes[i].value) {
        return true;
      }
    }
    return false;
  }

  function swap(html) {
    var next = document.createElement("div");
    next.innerHTML = html;
    var parts = Array.prototype.slice.call(next.children);
    parts.forEach(function (part) {
      var old = part.id ? document.getElementById(part.id) : null;
      if (!old || old.outerHTML === part.outerHTML || typingIn(old)) {
        return;
      }
      old.replaceWith(part);
    });
    main.setAttribute("data-refreshed", String(Number(main.getAttribute("data-refreshed") || "0") + 1));
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(fragment, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { swap(html); } })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var stream = new EventSource(main.getAttribute("data-stream"));
  stream.addEventListener("change", refresh);
  stream.addEventListener("resync", refresh);
  stream.addEventListener("open", function () { main.setAttribute("data-live", "open"); refresh(); });
  document.addEventListener("focusout", function () { setTimeout(refresh, 0); });
})();
