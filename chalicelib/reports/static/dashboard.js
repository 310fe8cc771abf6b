// Ministry dashboard: reads the report routes of this same origin and draws small SVG charts.
// No library and no CDN: the page must work on an offline ministry network. Every value from the
// server goes into the DOM as text (textContent / SVG text nodes), never as HTML.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var fmt = new Intl.NumberFormat("vi-VN");
  var pct = new Intl.NumberFormat("vi-VN", { style: "percent", maximumFractionDigits: 1 });

  // The bearer token never travels in a URL: it is typed into the form, or handed over in the
  // fragment (#token=…, which browsers never send to a server), and kept in sessionStorage, which
  // dies with the tab. A ?token= query is refused: by the time the page runs, the token has been
  // sent to the server and its logs, and may sit in history and bookmarks. Both are removed from
  // the address bar before anything else happens.
  var KEY = "vaxpass.token";

  function session(action, value) {
    try {
      if (action === "get") return window.sessionStorage.getItem(KEY);
      if (action === "set") window.sessionStorage.setItem(KEY, value);
      if (action === "clear") window.sessionStorage.removeItem(KEY);
    } catch (e) { /* storage disabled: the token lives in this page only */ }
    return null;
  }

  function takeTokenFromAddress() {
    var url = new URL(window.location.href);
    var fragment = new URLSearchParams(url.hash.replace(/^#/, ""));
    var given = fragment.get("token");
    var refused = url.searchParams.has("token");
    if (given !== null || refused) {
      fragment.delete("token");
      url.searchParams.delete("token");
      var rest = fragment.toString();
      window.history.replaceState(null, "", url.pathname + url.search + (rest ? "#" + rest : ""));
    }
    // Earlier versions of this page kept the token in localStorage, where it outlives the session.
    try { window.localStorage.removeItem(KEY); } catch (e) { /* nothing stored then */ }
    return { token: given ? given.trim() : null, refused: refused };
  }

  var fromAddress = takeTokenFromAddress();
  var TOKEN = fromAddress.token || session("get");
  if (fromAddress.token) session("set", TOKEN);

  function get(path, as) {
    var headers = {};
    if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
    return fetch(path, { headers: headers, cache: "no-store", referrerPolicy: "no-referrer" }).then(function (r) {
      if (!r.ok) {
        var err = new Error(path + ": HTTP " + r.status);
        err.status = r.status;
        throw err;
      }
      return as === "blob" ? r.blob() : r.json();
    });
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  var CARDS = [
    ["doses-received", "doses_received", "Mũi tiêm đã nhận", "Dose records received"],
    ["verified", "verified", "Đã xác minh", "Verified against the registry"],
    ["needs-correction", "needs_correction", "Cần sửa", "Need correction"],
    ["cleaning-backlog", "cleaning_backlog", "Chờ làm sạch", "Awaiting cleaning"],
    ["corrected", "corrected", "Đã sửa", "Corrected"],
    ["signed", "signed_by_facility", "Cơ sở đã ký", "People signed by facilities"],
    ["people-with-passport", "people_with_passport", "Người có hộ chiếu", "People with a passport"],
    ["passports-issued", "passports_issued", "Hộ chiếu đã cấp", "Passports issued (all versions)"],
    ["passports-revoked", "passports_revoked", "Hộ chiếu đã thu hồi", "Passports revoked"],
    ["complaint-backlog", "complaint_backlog", "Khiếu nại chưa xử lý", "Open complaints"],
    ["complaints-overdue", "complaints_overdue", "Khiếu nại quá hạn", "Overdue complaints"]
  ];

  function renderTotals(n) {
    var box = document.getElementById("totals");
    box.textContent = "";
    CARDS.forEach(function (c) {
      var card = el("div", { "class": "card" });
      card.appendChild(el("div", { "class": "value", "data-testid": "total-" + c[0], "data-value": String(n[c[1]]) },
        fmt.format(n[c[1]])));
      var label = el("div", { "class": "label" }, c[2]);
      label.appendChild(el("small", {}, c[3]));
      card.appendChild(label);
      box.appendChild(card);
    });
  }

  function active(p) {
    return p.doses_received || p.signed_by_facility || p.passports_issued || p.complaints_received;
  }

  // Horizontal bars, one row per province; `series` = [[field, css class, label], ...] drawn side
  // by side within the row, scaled to `max`.
  function hbars(container, rows, series, max, valueText, testid) {
    var rowH = 14 * series.length + 8, labelW = 170, valueW = 120, width = 900;
    var plotW = width - labelW - valueW;
    var s = svg("svg", { viewBox: "0 0 " + width + " " + (rows.length * rowH + 4), role: "img" });
    rows.forEach(function (p, i) {
      var y = i * rowH + 2;
      var g = svg("g", { "data-testid": testid + "-" + p.province_code, "data-province": p.province_code });
      g.appendChild(svg("text", { x: 0, y: y + rowH / 2 + 4 }, p.province_code + " " + p.province_name));
      series.forEach(function (sr, j) {
        var v = Math.max(0, sr[3] ? sr[3](p) : p[sr[0]] || 0);
        var w = max > 0 ? Math.min(1, v / max) * plotW : 0;
        var by = y + 3 + j * 14;
        g.appendChild(svg("rect", { "class": "track", x: labelW, y: by, width: plotW, height: 11 }));
        var bar = svg("rect", { "class": sr[1], x: labelW, y: by, width: w.toFixed(1), height: 11 });
        bar.appendChild(svg("title", {}, sr[2] + ": " + fmt.format(v)));
        g.appendChild(bar);
      });
      g.appendChild(svg("text", { x: labelW + plotW + 8, y: y + rowH / 2 + 4 }, valueText(p)));
      s.appendChild(g);
    });
    container.textContent = "";
    var legend = el("div", { "class": "legend" });
    series.forEach(function (sr) {
      var item = el("span", {});
      item.appendChild(el("i", { "data-series": sr[1] }));
      item.appendChild(document.createTextNode(sr[2]));
      legend.appendChild(item);
    });
    if (series.length > 1) container.appendChild(legend);
    container.appendChild(s);
  }

  function renderProgress(provinces) {
    var rows = provinces.filter(active);
    var note = document.getElementById("progress-note");
    note.textContent = (63 - rows.length) + " tỉnh chưa có dữ liệu · provinces with no data yet. " +
      "Thanh = người có hộ chiếu / người đã được cơ sở ký (tối đa 100%) · " +
      "bar = people with a passport / people signed by facilities (capped at 100%).";
    rows.sort(function (a, b) { return (b.issuing_progress || 0) - (a.issuing_progress || 0) || a.province_code.localeCompare(b.province_code); });
    hbars(document.getElementById("progress-chart"), rows,
      [["issuing_progress", "bar", "Tiến độ · progress", function (p) { return p.issuing_progress || 0; }]], 1,
      function (p) {
        var ratio = p.issuing_progress === null ? "—" : pct.format(p.issuing_progress);
        return ratio + " (" + fmt.format(p.people_with_passport) + "/" + fmt.format(p.signed_by_facility) + ")";
      }, "province-bar");
  }

  function renderBacklog(provinces) {
    var rows = provinces.filter(active);
    var max = 0;
    rows.forEach(function (p) { max = Math.max(max, p.cleaning_backlog, p.needs_correction, p.complaint_backlog); });
    rows.sort(function (a, b) { return (b.cleaning_backlog + b.needs_correction) - (a.cleaning_backlog + a.needs_correction); });
    hbars(document.getElementById("backlog-chart"), rows, [
      ["cleaning_backlog", "bar", "Chờ làm sạch · awaiting cleaning"],
      ["needs_correction", "bar2", "Cần sửa · needs correction"],
      ["complaint_backlog", "bar3", "Khiếu nại mở · open complaints"]
    ], max, function (p) {
      return fmt.format(p.cleaning_backlog) + " · " + fmt.format(p.needs_correction) + " · " + fmt.format(p.complaint_backlog);
    }, "backlog-bar");
  }

  function renderDaily(data) {
    var series = data.series, width = 900, height = 220, left = 50, bottom = 40, top = 10;
    var max = Math.max.apply(null, series.map(function (d) { return d.passports_issued; }).concat([1]));
    var plotH = height - bottom - top, step = (width - left) / series.length;
    var s = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img" });
    s.appendChild(svg("line", { "class": "axis", x1: left, y1: top + plotH, x2: width, y2: top + plotH }));
    s.appendChild(svg("text", { x: 0, y: top + 10 }, fmt.format(max)));
    s.appendChild(svg("text", { x: 0, y: top + plotH }, "0"));
    series.forEach(function (d, i) {
      var h = d.passports_issued / max * plotH, x = left + i * step;
      var bar = svg("rect", { "class": "bar", x: (x + 1).toFixed(1), y: (top + plotH - h).toFixed(1),
        width: Math.max(1, step - 2).toFixed(1), height: h.toFixed(1),
        "data-testid": "day-" + d.date, "data-value": String(d.passports_issued) });
      bar.appendChild(svg("title", {}, d.date + ": " + fmt.format(d.passports_issued)));
      s.appendChild(bar);
      if (i === series.length - 1) {  // the latest day, anchored at its right edge so it is not cut
        s.appendChild(svg("text", { x: width, y: height - 20, "text-anchor": "end" }, d.date.slice(5)));
      } else if (i % 5 === 0 && i < series.length - 3) {
        s.appendChild(svg("text", { x: x.toFixed(1), y: height - 20 }, d.date.slice(5)));
      }
    });
    var box = document.getElementById("daily-chart");
    box.textContent = "";
    box.appendChild(s);
  }

  function downloadCsv() {
    get("/v1/reports/provinces.csv", "blob").then(function (blob) {
      var a = el("a", { href: URL.createObjectURL(blob), download: "vaxpass-provinces.csv" });
      document.body.appendChild(a);
      a.click();
      a.remove();
    }).catch(showError);
  }

  function showError(err) {
    var st = document.getElementById("status");
    st.className = "error";
    st.textContent = "Lỗi tải dữ liệu · could not load: " + err.message;
  }

  function showSignIn(note) {
    TOKEN = null;
    session("clear");
    document.getElementById("report").hidden = true;
    document.getElementById("csv").hidden = true;
    document.getElementById("signout").hidden = true;
    document.body.removeAttribute("data-loaded");
    var st = document.getElementById("status");
    st.className = "";
    st.textContent = "Chưa đăng nhập · not signed in";
    document.getElementById("signin-note").textContent = note || "";
    document.getElementById("signin").hidden = false;
    document.getElementById("token-input").focus();
  }

  function load() {
    document.getElementById("signin").hidden = true;
    Promise.all([get("/v1/reports/provinces"), get("/v1/reports/daily?days=30")]).then(function (res) {
      var report = res[0];
      document.getElementById("report").hidden = false;
      document.getElementById("csv").hidden = false;
      document.getElementById("signout").hidden = false;
      renderTotals(report.national);
      renderProgress(report.provinces);
      renderBacklog(report.provinces);
      renderDaily(res[1]);
      var st = document.getElementById("status");
      st.className = "";
      st.textContent = "Cập nhật lúc " + report.generated_at + " · updated " + report.generated_at;
      document.body.setAttribute("data-loaded", "true");
    }).catch(function (err) {
      if (err.status === 401 || err.status === 403) {
        showSignIn("Mã truy cập không được chấp nhận (hết hạn, sai, hoặc không phải của Bộ) · " +
                   "the token was refused (expired, invalid, or not a ministry token): HTTP " + err.status);
      } else {
        showError(err);
      }
    });
  }

  document.getElementById("token-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("token-input");
    var value = input.value.trim().replace(/^Bearer\s+/i, "");
    input.value = "";
    if (!value) return;
    TOKEN = value;
    session("set", TOKEN);
    load();
  });
  document.getElementById("signout").addEventListener("click", function () { showSignIn(""); });
  document.getElementById("csv").addEventListener("click", downloadCsv);

  if (TOKEN) {
    load();
  } else {
    showSignIn(fromAddress.refused
      ? "Không nhận mã truy cập trong địa chỉ (?token=): hãy nhập vào đây · a token in the address " +
        "(?token=) is not accepted, as it was sent to the server and may be kept in history: enter it here"
      : "");
  }
})();
