/* hallq shared page helpers: languages, labels, API calls, durations, dialogs.
 * Plain JS, no build step. Used by the kiosk, desk, visitor and clerk pad pages.
 * Everything hangs off one global, HQ, so pages stay small scripts. */
(function (global) {
  "use strict";

  // Labels in the hall's languages. A page element names its label with data-i18n="key"
  // (text) or data-i18n-aria="key" / data-i18n-placeholder="key" (attributes).
  // Strings may hold {name} placeholders filled by HQ.t(key, vars).
  var STRINGS = {
    lang_name: { zh: "中文", en: "English" },
    switch_lang_aria: { zh: "切换语言 / Switch language", en: "Switch language / 切换语言" },
    offline: { zh: "连接中断，正在重连…", en: "Connection lost — reconnecting…" },
    online: { zh: "已连接", en: "Connected" },
    redis_down: { zh: "服务器存储暂不可用，请稍候", en: "Server storage is unavailable — please wait" },
    error_generic: { zh: "出错了：{message}", en: "Something went wrong: {message}" },
    error_network: { zh: "网络不通，请重试", en: "Network problem — please try again" },
    error_rate: { zh: "操作太频繁，请稍后再试", en: "Too many requests — please wait a moment" },
    confirm: { zh: "确认", en: "Confirm" },
    cancel: { zh: "取消", en: "Cancel" },
    back: { zh: "返回", en: "Back" },
    close: { zh: "关闭", en: "Close" },
    print: { zh: "打印", en: "Print" },
    done: { zh: "完成", en: "Done" },
    minutes: { zh: "{n} 分钟", en: "{n} min" },
    hours_minutes: { zh: "{h} 小时 {m} 分", en: "{h} h {m} min" },
    about: { zh: "约 {d}", en: "about {d}" },
    any_moment: { zh: "即将叫到", en: "any moment now" },
    priority: { zh: "绿色通道", en: "Priority" },

    // ticket (kiosk, desk reprint)
    t_people_ahead: { zh: "前面还有", en: "People ahead" },
    t_wait: { zh: "预计等候", en: "Estimated wait" },
    t_scan: { zh: "扫码查看排队进度", en: "Scan to follow your turn" },
    t_note: { zh: "请留意叫号。过号将顺延，当日有效。", en: "Listen for your number. Missed calls move back in the queue. Valid today only." },

    // kiosk
    k_choose: { zh: "请选择业务", en: "Choose your service" },
    k_choose_hint: { zh: "可多选：同时办理几项业务只需一张号", en: "Choose several if you need them — one ticket covers them all" },
    k_waiting: { zh: "等候 {n} 人", en: "{n} waiting" },
    k_priority: { zh: "绿色通道", en: "Priority lane" },
    k_priority_hint: { zh: "老年人、残疾人、孕妇等", en: "Elderly, disabled, pregnant visitors" },
    k_priority_title: { zh: "使用绿色通道？", en: "Use the priority lane?" },
    k_priority_text: { zh: "绿色通道仅供老年人、残疾人、孕妇等需要帮助的群众使用，窗口工作人员可能核实。", en: "The priority lane is for elderly, disabled and pregnant visitors and others who need help. Staff may check." },
    k_priority_yes: { zh: "确认使用绿色通道", en: "Yes, use the priority lane" },
    k_priority_no: { zh: "不使用", en: "No, normal queue" },
    k_priority_on: { zh: "已选绿色通道", en: "Priority lane chosen" },
    k_id: { zh: "身份证号（选填）", en: "ID number (optional)" },
    k_id_hint: { zh: "仅用于防止重复取号，不会显示或打印", en: "Only used to prevent duplicate tickets; never shown or printed" },
    k_id_clear: { zh: "清除", en: "Clear" },
    k_id_delete: { zh: "删除一位", en: "Delete" },
    k_id_invalid: { zh: "身份证号应为 15 或 18 位", en: "An ID number has 15 or 18 characters" },
    k_take: { zh: "取号", en: "Take a ticket" },
    k_taking: { zh: "正在取号…", en: "Issuing…" },
    k_select_first: { zh: "请先选择至少一项业务", en: "Please choose at least one service" },
    k_duplicate: { zh: "您已有一张未办结的号：{number}。请留意叫号，无需重复取号。如需帮助请到咨询台。", en: "You already have an open ticket: {number}. Please wait for it to be called — you don't need another. Ask at the information desk if you need help." },
    k_quota: { zh: "该业务今日号源已满，请明天再来或咨询服务台。", en: "This service has no tickets left today. Please come back tomorrow or ask at the information desk." },
    k_no_window: { zh: "这几项业务不能合并办理，请分别取号。", en: "These services cannot be combined on one ticket — please take separate tickets." },
    k_your_ticket: { zh: "您的号", en: "Your ticket" },
    k_back_in: { zh: "{n} 秒后返回首页", en: "Back to start in {n} s" },
    k_closed_title: { zh: "已停止取号", en: "Ticket issuing has closed for today" },
    k_closed_text: { zh: "今日取号已结束。已取号的群众请继续等候叫号。", en: "No more tickets today. If you already have one, please wait to be called." },

    // desk
    d_title: { zh: "咨询台", en: "Information desk" },
    d_login: { zh: "登录", en: "Log in" },
    d_logout: { zh: "退出登录", en: "Log out" },
    d_staff: { zh: "工号", en: "Staff ID" },
    d_pin: { zh: "密码", en: "PIN" },
    d_bad_login: { zh: "工号或密码错误", en: "Wrong staff ID or PIN" },
    d_not_desk: { zh: "此账号不能使用咨询台", en: "This account cannot use the desk" },
    d_queue: { zh: "排队情况", en: "Queue" },
    d_service: { zh: "业务", en: "Service" },
    d_waiting: { zh: "等候", en: "Waiting" },
    d_longest: { zh: "最长等候", en: "Longest wait" },
    d_total: { zh: "全部业务", en: "All services" },
    d_windows: { zh: "窗口", en: "Windows" },
    d_issue: { zh: "代取号", en: "Issue a ticket" },
    d_find: { zh: "查找号码", en: "Find a ticket" },
    d_number: { zh: "号码", en: "Number" },
    d_find_btn: { zh: "查找", en: "Find" },
    d_not_found: { zh: "没有找到号码 {number}", en: "No ticket {number} today" },
    d_cancel_ticket: { zh: "取消此号", en: "Cancel ticket" },
    d_cancel_confirm: { zh: "确定取消 {number}？取消后不能恢复。", en: "Cancel {number}? This cannot be undone." },
    d_cancelled: { zh: "{number} 已取消", en: "{number} cancelled" },
    d_reprint: { zh: "补打", en: "Reprint" },
    d_status: { zh: "状态", en: "Status" },
    d_window: { zh: "窗口", en: "Window" },

    // statuses
    st_waiting: { zh: "等候中", en: "Waiting" },
    st_called: { zh: "已叫号", en: "Called" },
    st_serving: { zh: "办理中", en: "Being served" },
    st_done: { zh: "已办结", en: "Done" },
    st_no_show: { zh: "过号", en: "Missed (no-show)" },
    st_suspended: { zh: "已挂起", en: "On hold" },
    st_cancelled: { zh: "已取消", en: "Cancelled" },
    st_expired: { zh: "已过期", en: "Expired" },
    ws_idle: { zh: "空闲", en: "Idle" },
    ws_calling: { zh: "叫号中", en: "Calling" },
    ws_serving: { zh: "办理中", en: "Serving" },
    ws_paused: { zh: "暂停服务", en: "Paused" },
    ws_closed: { zh: "未开放", en: "Closed" },

    // visitor
    v_title: { zh: "我的排队", en: "My place in the queue" },
    v_missing_title: { zh: "未找到这张号", en: "Ticket not found" },
    v_missing_text: { zh: "这张号可能已过期（号码每天清零），或链接有误。请到取号机重新取号，或到咨询台咨询。", en: "It may have expired (numbers restart every day) or the link is wrong. Take a new ticket at the kiosk or ask at the information desk." },
    v_ahead: { zh: "前面还有 {n} 人", en: "{n} people ahead of you" },
    v_ahead_one: { zh: "前面还有 1 人", en: "1 person ahead of you" },
    v_ahead_none: { zh: "下一位就是您", en: "You are next" },
    v_eta: { zh: "预计等候 {d}", en: "Estimated wait: {d}" },
    v_ready: { zh: "请准备，马上就到您了！请留在大厅内。", en: "Get ready — you are nearly up! Please stay in the hall." },
    v_called: { zh: "请到 {window} 办理", en: "Please go to {window}" },
    v_called_sub: { zh: "正在叫您的号", en: "Your number is being called" },
    v_serving: { zh: "正在 {window} 办理", en: "Being served at {window}" },
    v_done: { zh: "业务已办结，感谢您的耐心等候。", en: "All done — thank you for your patience." },
    v_no_show: { zh: "您错过了叫号，这张号已作废。如仍需办理，请重新取号或到咨询台。", en: "You missed your call and this ticket was closed. To be served, take a new ticket or ask at the information desk." },
    v_requeued: { zh: "您错过了叫号，已为您顺延排队，请留意叫号。", en: "You missed your call, so you were moved a few places back in the queue. Please listen for your number." },
    v_transferred: { zh: "已为您转到 {to}，请等候再次叫号，无需重新取号。", en: "You have been transferred to {to}. Wait to be called again — no new ticket needed." },
    v_suspended: { zh: "您的号已挂起。备齐材料后请直接回到 {window}，无需重新取号。", en: "Your ticket is on hold. When you have what you need, go straight back to {window} — no new ticket needed." },
    v_resumed: { zh: "您的号已恢复，请留意叫号。", en: "Your ticket is active again — listen for your number." },
    v_cancelled: { zh: "这张号已取消。", en: "This ticket was cancelled." },
    v_expired: { zh: "这张号已过期（号码每天清零）。", en: "This ticket has expired (numbers restart every day)." },
    v_the_window: { zh: "窗口", en: "the window" },
    v_cancel: { zh: "不办了，取消我的号", en: "Cancel my ticket" },
    v_cancel_confirm: { zh: "确定取消 {number}？取消后需要重新排队。", en: "Cancel {number}? You would have to queue again." },
    v_cancel_failed: { zh: "无法取消：{message}", en: "Could not cancel: {message}" },
    v_sound_on: { zh: "开启提示音", en: "Turn on sound" },
    v_sound_is_on: { zh: "提示音已开启", en: "Sound is on" },
    v_rate: { zh: "请为本次服务评价", en: "How was your visit?" },
    v_rate_5: { zh: "非常满意", en: "Very satisfied" },
    v_rate_4: { zh: "满意", en: "Satisfied" },
    v_rate_3: { zh: "基本满意", en: "Acceptable" },
    v_rate_2: { zh: "不满意", en: "Dissatisfied" },
    v_rate_1: { zh: "非常不满意", en: "Very dissatisfied" },
    v_rated: { zh: "感谢您的评价！", en: "Thank you for your rating!" },
    v_rate_closed: { zh: "这次办理已评价过或不能评价。", en: "This visit has already been rated or cannot be rated." },
    v_privacy: { zh: "本页不含任何个人信息。", en: "This page holds no personal data." },

    // clerk pad
    p_title: { zh: "叫号器", en: "Calling pad" },
    p_choose_window: { zh: "选择窗口", en: "Choose your window" },
    p_change_window: { zh: "换窗口", en: "Change window" },
    p_current: { zh: "当前号", en: "Current ticket" },
    p_none: { zh: "无", en: "None" },
    p_since_call: { zh: "叫号后 {t}", en: "{t} since call" },
    p_waiting: { zh: "等候人数", en: "Waiting" },
    p_served: { zh: "今日已办", en: "Served today" },
    p_busy: { zh: "处理中…", en: "Working…" },
    p_queued: { zh: "已记下，连接恢复后发送…", en: "Will send when the connection is back…" },
    a_call_next: { zh: "叫号", en: "Call next" },
    a_recall: { zh: "重呼", en: "Recall" },
    a_no_show: { zh: "过号", en: "No-show" },
    a_start: { zh: "开始", en: "Start" },
    a_complete: { zh: "办结", en: "Complete" },
    a_transfer: { zh: "转移", en: "Transfer" },
    a_call: { zh: "特呼", en: "Call number" },
    a_suspend: { zh: "挂起", en: "Suspend" },
    a_resume: { zh: "恢复", en: "Resume" },
    a_pause: { zh: "暂停", en: "Pause" },
    a_unpause: { zh: "恢复服务", en: "Unpause" },
    a_open: { zh: "开窗", en: "Open window" },
    a_close: { zh: "关窗", en: "Close window" },
    r_ok_call_next: { zh: "已叫 {number}", en: "Called {number}" },
    r_ok_call_next_none: { zh: "没有等候的号", en: "Nobody is waiting" },
    r_ok_recall: { zh: "已重呼 {number}", en: "Recalled {number}" },
    r_ok_no_show: { zh: "{number} 已过号", en: "{number} marked no-show" },
    r_ok_start: { zh: "开始办理 {number}", en: "Serving {number}" },
    r_ok_complete: { zh: "{number} 已办结", en: "{number} completed" },
    r_ok_transfer: { zh: "{number} 已转移", en: "{number} transferred" },
    r_ok_call: { zh: "已特呼 {number}", en: "Called {number}" },
    r_ok_suspend: { zh: "{number} 已挂起", en: "{number} on hold" },
    r_ok_resume: { zh: "{number} 已恢复", en: "{number} resumed" },
    r_ok_pause: { zh: "已暂停服务", en: "Window paused" },
    r_ok_unpause: { zh: "已恢复服务", en: "Window open again" },
    r_ok_open: { zh: "窗口已开", en: "Window open" },
    r_ok_close: { zh: "窗口已关", en: "Window closed" },
    r_failed: { zh: "未执行：{message}", en: "Not done: {message}" },
    p_transfer_title: { zh: "转移到", en: "Transfer to" },
    p_transfer_service: { zh: "业务", en: "Service" },
    p_transfer_window: { zh: "窗口", en: "Window" },
    p_number_title: { zh: "输入号码", en: "Enter the number" },
    p_number_hint: { zh: "可用小键盘：业务序号+号码，如 1012 = A012", en: "On a keypad: service position + number, e.g. 1012 = A012" },
    p_code_hint: { zh: "小键盘：业务序号（1、2…）或 0+窗口号（如 05）", en: "Keypad: service position (1, 2…) or 0 + window (e.g. 05)" },
    p_bad_number: { zh: "号码格式不对", en: "That is not a ticket number" },
    p_keys: { zh: "小键盘", en: "Keypad" },
    p_logout_confirm: { zh: "退出前会关闭窗口，确定？", en: "Logging out closes the window. Continue?" },
    p_not_clerk: { zh: "此账号不能使用叫号器", en: "This account cannot use the calling pad" },
    p_session_over: { zh: "登录已失效，请重新登录", en: "Your session has ended — please log in again" },
  };

  var HQ = {};
  HQ.STRINGS = STRINGS;
  HQ.lang = "zh";
  HQ.hall = null;

  /** Read a JSON blob the server embedded in a <script type="application/json"> element. */
  HQ.readJSON = function (id) {
    var el = document.getElementById(id);
    if (!el) return null;
    try { return JSON.parse(el.textContent || "null"); } catch (e) { return null; }
  };

  /** A label in the current (or given) language; falls back to English, then to the key. */
  HQ.t = function (key, vars, lang) {
    var entry = STRINGS[key];
    var l = lang || HQ.lang;
    var s = entry ? (entry[l] || entry.en || entry.zh) : key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, name) {
        return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m;
      });
    }
    return s;
  };

  /** A localized name object ({zh, en}) in the current language. */
  HQ.name = function (names, lang) {
    if (!names) return "";
    if (typeof names === "string") return names;
    var l = lang || HQ.lang;
    return names[l] || names.en || names.zh || "";
  };

  HQ.service = function (id) {
    var list = (HQ.hall && HQ.hall.services) || [];
    for (var i = 0; i < list.length; i++) if (list[i].id === id) return list[i];
    return null;
  };
  HQ.serviceName = function (id, lang) {
    var s = HQ.service(id);
    return s ? HQ.name(s.name, lang) : id;
  };
  HQ.windowInfo = function (id) {
    var list = (HQ.hall && HQ.hall.windows) || [];
    for (var i = 0; i < list.length; i++) if (String(list[i].id) === String(id)) return list[i];
    return null;
  };
  /** "3号窗口" / "Window 3": the hall file's window name, or a generic one. */
  HQ.windowName = function (id, lang) {
    var w = HQ.windowInfo(id);
    if (w && w.name) return HQ.name(w.name, lang);
    return (lang || HQ.lang) === "zh" ? id + "号窗口" : "Window " + id;
  };

  var LANG_TAGS = { zh: "zh-CN", en: "en" };

  /** Show every labelled element in `lang` and remember the choice for the session. */
  HQ.setLang = function (lang) {
    HQ.lang = lang;
    document.documentElement.lang = LANG_TAGS[lang] || lang;
    HQ.applyLabels(document);
    try { sessionStorage.setItem("hallq.lang", lang); } catch (e) { /* private mode */ }
    var listeners = HQ._langListeners;
    for (var i = 0; i < listeners.length; i++) listeners[i](lang);
  };
  HQ._langListeners = [];
  HQ.onLang = function (fn) { HQ._langListeners.push(fn); };

  HQ.applyLabels = function (root) {
    var names = root.querySelectorAll("[data-hall-name]");
    for (var n = 0; n < names.length; n++) if (HQ.hall) names[n].textContent = HQ.name(HQ.hall.name);
    var els = root.querySelectorAll("[data-i18n]");
    for (var i = 0; i < els.length; i++) els[i].textContent = HQ.t(els[i].getAttribute("data-i18n"));
    var attrs = [["data-i18n-aria", "aria-label"], ["data-i18n-placeholder", "placeholder"], ["data-i18n-title", "title"]];
    for (var a = 0; a < attrs.length; a++) {
      var withAttr = root.querySelectorAll("[" + attrs[a][0] + "]");
      for (var j = 0; j < withAttr.length; j++) withAttr[j].setAttribute(attrs[a][1], HQ.t(withAttr[j].getAttribute(attrs[a][0])));
    }
  };

  /** The hall's languages in order; the switch cycles through them. */
  HQ.languages = function () {
    var langs = (HQ.hall && HQ.hall.languages) || ["zh", "en"];
    return langs.length ? langs : ["zh", "en"];
  };

  /** Wire a language switch button: it names the next language, and switches to it. */
  HQ.langSwitch = function (button) {
    function next() {
      var langs = HQ.languages();
      return langs[(langs.indexOf(HQ.lang) + 1) % langs.length];
    }
    function label() {
      var n = next();
      button.textContent = HQ.t("lang_name", null, n);
      button.setAttribute("lang", LANG_TAGS[n] || n);
      button.setAttribute("aria-label", HQ.t("switch_lang_aria"));
    }
    button.addEventListener("click", function () { HQ.setLang(next()); });
    HQ.onLang(label);
    label();
  };

  /** Start a page: read the embedded hall, pick the language (session choice, else `fallback`). */
  HQ.init = function (fallback) {
    HQ.hall = HQ.readJSON("hall-data");
    var langs = HQ.languages();
    var saved = null;
    try { saved = sessionStorage.getItem("hallq.lang"); } catch (e) { /* ignore */ }
    var lang = saved && langs.indexOf(saved) >= 0 ? saved : (fallback && langs.indexOf(fallback) >= 0 ? fallback : langs[0]);
    var sw = document.querySelectorAll("[data-lang-switch]");
    for (var i = 0; i < sw.length; i++) HQ.langSwitch(sw[i]);
    HQ.setLang(lang);
  };

  /**
   * Call the JSON API. Resolves {ok, status, data} and never rejects: a network failure is
   * {ok:false, status:0, data:{error:{code:"network"}}}, so callers handle one shape.
   */
  HQ.api = function (method, path, body, token) {
    var headers = { Accept: "application/json" };
    if (body !== undefined && body !== null) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(path, {
      method: method,
      headers: headers,
      body: body !== undefined && body !== null ? JSON.stringify(body) : undefined,
      cache: "no-store",
    }).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { code: "bad_response", message: text.slice(0, 200) } }; }
        return { ok: res.ok, status: res.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, data: { error: { code: "network", message: HQ.t("error_network") } } };
    });
  };

  /** A human message for a failed HQ.api answer. */
  HQ.errorText = function (res) {
    if (res.status === 0) return HQ.t("error_network");
    if (res.status === 429) return HQ.t("error_rate");
    var err = res.data && res.data.error;
    return HQ.t("error_generic", { message: (err && (err.message || err.code)) || res.status });
  };

  /** "约 15 分钟" / "about 15 min" from seconds. */
  HQ.formatWait = function (seconds, lang) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    if (seconds < 60) return HQ.t("any_moment", null, lang);
    var minutes = Math.round(seconds / 60);
    var d = minutes < 60 ? HQ.t("minutes", { n: minutes }, lang)
      : HQ.t("hours_minutes", { h: Math.floor(minutes / 60), m: minutes % 60 }, lang);
    return HQ.t("about", { d: d }, lang);
  };

  /** "m:ss" (or "h:mm:ss") of a duration in milliseconds, never negative. */
  HQ.clock = function (ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  };

  /** A request id for an action: crypto.randomUUID where available (secure contexts only),
   * else 128 random bits from crypto.getRandomValues (a pad on plain http:// in a LAN). */
  HQ.requestId = function () {
    if (global.crypto && typeof global.crypto.randomUUID === "function") return global.crypto.randomUUID();
    var b = new Uint8Array(16);
    global.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  };

  /** ws:// or wss:// URL for a socket path on this server. */
  HQ.wsUrl = function (path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  };

  /**
   * A yes/no question in the page's own <dialog class="hq-dialog"> (window.confirm is blocked in
   * kiosk browsers and cannot be styled for touch). Resolves true or false.
   */
  HQ.ask = function (text, yesLabel, noLabel) {
    return new Promise(function (resolve) {
      var dlg = document.createElement("dialog");
      dlg.className = "hq-dialog";
      dlg.setAttribute("aria-modal", "true");
      var p = document.createElement("p");
      p.className = "hq-dialog-text";
      p.textContent = text;
      var row = document.createElement("div");
      row.className = "hq-row";
      var yes = document.createElement("button");
      yes.type = "button"; yes.className = "hq-btn hq-primary"; yes.textContent = yesLabel || HQ.t("confirm");
      yes.setAttribute("data-answer", "yes");
      var no = document.createElement("button");
      no.type = "button"; no.className = "hq-btn"; no.textContent = noLabel || HQ.t("cancel");
      no.setAttribute("data-answer", "no");
      row.appendChild(yes); row.appendChild(no);
      dlg.appendChild(p); dlg.appendChild(row);
      document.body.appendChild(dlg);
      function finish(answer) { dlg.close(); dlg.remove(); resolve(answer); }
      yes.addEventListener("click", function () { finish(true); });
      no.addEventListener("click", function () { finish(false); });
      dlg.addEventListener("cancel", function (e) { e.preventDefault(); finish(false); });
      dlg.showModal();
      no.focus();
    });
  };

  /** Calls fn at most once per `ms`, trailing, for refetches triggered by bursts of events. */
  HQ.debounce = function (fn, ms) {
    var timer = null;
    return function () {
      if (timer) return;
      timer = setTimeout(function () { timer = null; fn(); }, ms);
    };
  };

  global.HQ = HQ;
})(window);
