// polykfunc report: filters and collapsing for the matrices and the diff tables. No network, no library.
(function () {
  "use strict";

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function setupMatrix(bar) {
    var table = document.getElementById(bar.getAttribute("data-for"));
    if (!table) { return; }
    var hidden = document.createElement("style");
    document.head.appendChild(hidden);
    var rowBox = bar.querySelector(".f-row"), colBox = bar.querySelector(".f-col");

    function filterRows() {
      var q = rowBox.value.trim().toLowerCase();
      each(table.tBodies, function (tb) {
        var shown = 0;
        each(tb.querySelectorAll("tr.kf"), function (tr) {
          var hit = !q || tr.getAttribute("data-name").toLowerCase().indexOf(q) >= 0;
          tr.classList.toggle("hide", !hit);
          if (hit) { shown += 1; }
        });
        tb.classList.toggle("hide", shown === 0);
      });
    }

    function filterColumns() {
      var q = colBox.value.trim().toLowerCase(), rules = [];
      each(table.querySelectorAll("th.cn"), function (th) {
        if (q && th.getAttribute("data-name").toLowerCase().indexOf(q) < 0) {
          var i = th.getAttribute("data-c");
          rules.push("#" + table.id + ' [data-c="' + i + '"]');
        }
      });
      hidden.textContent = rules.length ? rules.join(",") + "{display:none}" : "";
      each(table.querySelectorAll("th.cg"), function (th) {
        var start = +th.getAttribute("data-cs"), end = +th.getAttribute("data-ce"), visible = 0;
        for (var i = start; i <= end; i += 1) {
          var cn = table.querySelector('th.cn[data-c="' + i + '"]');
          if (!q || cn.getAttribute("data-name").toLowerCase().indexOf(q) >= 0) { visible += 1; }
        }
        th.colSpan = Math.max(visible, 1);
        th.style.display = visible ? "" : "none";
      });
    }

    rowBox.addEventListener("input", filterRows);
    colBox.addEventListener("input", filterColumns);
    bar.querySelector(".f-findings").addEventListener("change", function (ev) {
      table.classList.toggle("findings", ev.target.checked);
    });
    bar.querySelector(".f-group").addEventListener("change", function (ev) {
      table.classList.toggle("nogroup", !ev.target.checked);
    });
    bar.querySelector(".f-collapse").addEventListener("change", function (ev) {
      table.classList.toggle("collapsed", ev.target.checked);
      each(table.tBodies, function (tb) {
        tb.classList.remove("open", "shut");
        var b = tb.querySelector(".tog");
        if (b) { b.textContent = ev.target.checked ? "▸" : "▾"; b.setAttribute("aria-expanded", String(!ev.target.checked)); }
      });
    });
    each(table.querySelectorAll("button.tog"), function (b) {
      b.addEventListener("click", function () {
        var tb = b.closest("tbody"), collapsed = table.classList.contains("collapsed");
        var open = collapsed ? !tb.classList.contains("open") : tb.classList.contains("shut");
        tb.classList.toggle(collapsed ? "open" : "shut", collapsed ? open : !open);
        b.textContent = open ? "▾" : "▸";
        b.setAttribute("aria-expanded", String(open));
      });
    });
  }

  function setupDiff(bar) {
    var table = document.getElementById(bar.getAttribute("data-for"));
    if (!table) { return; }
    var text = bar.querySelector(".f-text"), kinds = bar.querySelectorAll(".f-kind");
    function apply() {
      var q = text.value.trim().toLowerCase(), on = {};
      each(kinds, function (k) { on[k.value] = k.checked; });
      each(table.tBodies[0].rows, function (tr) {
        var kind = tr.getAttribute("data-kind");
        if (!kind) { return; }
        tr.hidden = !(on[kind] && (!q || tr.textContent.toLowerCase().indexOf(q) >= 0));
      });
    }
    text.addEventListener("input", apply);
    each(kinds, function (k) { k.addEventListener("change", apply); });
    apply();
  }

  function openTarget() {
    // jumping to a counterexample that sits in a closed <details> opens it
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    var d = el && el.closest("details");
    if (d) { d.open = true; el.scrollIntoView(); }
  }

  each(document.querySelectorAll(".toolbar"), function (bar) {
    if (bar.querySelector(".f-row")) { setupMatrix(bar); } else { setupDiff(bar); }
  });
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.documentElement.setAttribute("data-ready", "1");
}());
