// Live updates for the dashboard's pages. The pages are complete without this script; it
// opens the page's SSE stream (data-stream on <body>) and applies what arrives.
(function () {
  "use strict";
  var body = document.body;
  var status = document.getElementById("live-status");
  // Timestamps (performance.timeOrigin + performance.now(), ms since the epoch) of the
  // states this page applied, newest last: what the latency benchmark reads.
  var applied = (window.stigmerApplied = []);

  function mark(version) {
    applied.push({ version: version, at: performance.timeOrigin + performance.now() });
    if (applied.length > 2000) applied.splice(0, 1000);
  }

  function setStatus(text, cls) {
    if (!status) return;
    status.hidden = false;
    status.textContent = text;
    status.className = "live-status " + cls;
  }

  function ago(ms) {
    if (!ms) return "";
    var s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (s >= 86400) return Math.floor(s / 86400) + " d ago";
    if (s >= 3600) return Math.floor(s / 3600) + " h ago";
    if (s >= 60) return Math.floor(s / 60) + " min ago";
    return s + " s ago";
  }

  function refreshTimes() {
    var times = document.querySelectorAll("time[data-ms]");
    for (var i = 0; i < times.length; i++) {
      times[i].textContent = ago(Number(times[i].getAttribute("data-ms")));
    }
  }
  setInterval(refreshTimes, 1000);

  function rowFrom(html) {
    var t = document.createElement("tbody");
    t.innerHTML = html.trim();
    return t.firstElementChild;
  }

  function listPage(url) {
    var rows = document.getElementById("rows");
    var firstPage = body.getAttribute("data-first-page") === "yes";
    var source = new EventSource(url);
    source.onopen = function () { setStatus("live", "on"); };
    source.onerror = function () {
      setStatus(source.readyState === EventSource.CLOSED ? "not live (reload)" : "reconnecting", "off");
    };
    source.addEventListener("execution", function (e) {
      var ev = JSON.parse(e.data);
      var row = document.getElementById("row-" + ev.id);
      if (ev.deleted) {
        if (row) row.remove();
      } else if (row) {
        if (Number(row.getAttribute("data-version")) >= ev.version) return;
        var fresh = rowFrom(ev.html);
        row.replaceWith(fresh);
        fresh.classList.add("flash");
      } else if (firstPage) {
        var added = rowFrom(ev.html);
        rows.insertBefore(added, rows.firstChild);
        added.classList.add("flash");
        var empty = document.getElementById("empty");
        if (empty) empty.remove();
      }
      mark(ev.version);
    });
    source.addEventListener("counts", function (e) {
      var counts = JSON.parse(e.data);
      var links = document.querySelectorAll("#counts .count");
      for (var i = 0; i < links.length; i++) {
        var n = counts[links[i].getAttribute("data-phase")];
        if (n !== undefined) links[i].querySelector("b").textContent = n;
      }
    });
    source.addEventListener("reset", function () { source.close(); location.reload(); });
  }

  function executionPage(url) {
    var live = document.getElementById("live");
    var selected = null;
    live.addEventListener("click", function (e) {
      var link = e.target.closest ? e.target.closest("a.node-link") : null;
      if (!link) return;
      e.preventDefault();
      var node = link.querySelector("g.node");
      selected = node.getAttribute("data-task") || null;
      showSelected(true);
    });
    function showSelected(scroll) {
      var old = live.querySelectorAll(".selected");
      for (var i = 0; i < old.length; i++) old[i].classList.remove("selected");
      if (!selected) return;
      var node = live.querySelector('g.node[data-task="' + selected + '"]');
      if (node) node.classList.add("selected");
      var row = document.getElementById(selected);
      if (row) {
        row.classList.add("selected");
        var details = row.querySelector("details");
        if (details) details.open = true;
        if (scroll) row.scrollIntoView({ block: "nearest" });
      }
    }
    if (body.getAttribute("data-terminal") === "yes") return; // nothing will change
    var source = new EventSource(url);
    source.onopen = function () { setStatus("live", "on"); };
    source.onerror = function () {
      setStatus(source.readyState === EventSource.CLOSED ? "not live (reload)" : "reconnecting", "off");
    };
    source.addEventListener("state", function (e) {
      var state = JSON.parse(e.data);
      if (Number(live.getAttribute("data-version")) > state.version) return;
      var open = [];
      var details = live.querySelectorAll("details[open]");
      for (var i = 0; i < details.length; i++) open.push(details[i].getAttribute("data-task"));
      live.innerHTML = state.html;
      live.setAttribute("data-version", state.version);
      for (var j = 0; j < open.length; j++) {
        if (!open[j]) continue;
        var d = live.querySelector('details[data-task="' + open[j] + '"]');
        if (d) d.open = true;
      }
      showSelected(false);
      refreshTimes();
      mark(state.version);
    });
    source.addEventListener("end", function () { source.close(); setStatus("ended", ""); });
    source.addEventListener("gone", function (e) {
      source.close();
      setStatus("gone", "off");
      live.insertAdjacentHTML("afterbegin", '<p class="error-box">' + JSON.parse(e.data).reason.replace(/</g, "&lt;") + "</p>");
    });
  }

  var stream = body.getAttribute("data-stream");
  if (!stream || !window.EventSource) return;
  if (body.getAttribute("data-page") === "list") listPage(stream);
  else executionPage(stream);
})();
