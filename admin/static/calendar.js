/*
 * calendar.js — the manager page's calendar section (beside admin.js, same login).
 *
 * GET /api/halls/{hall}/calendar lists the holidays and 调休 working days, of the hall file
 * and added here, and today's date. The forms add a holiday (POST /calendar/holidays {date,
 * until, name}) or a make-up working day (POST /calendar/workdays {date, hours_of, name});
 * a row added here can be removed (DELETE /calendar/holidays|workdays/{date}); a row of the
 * hand-written hall file has no remove button but says it is changed in the file. The server
 * checks each change as `hallq check-config` does, writes it to the hall's calendar overlay
 * (never the hall file), reloads the hall live and audits it; a refusal shows the catalogue's
 * words for its code (err_…) and, for a broken rule, the problems. Words come from HQ.t.
 */
(function () {
  'use strict';

  var HALL = window.HALL;
  var HQ = window.HQ;
  var API = '/api/halls/' + encodeURIComponent(HALL.id) + '/calendar';
  var TOKEN_KEY = 'hallq.admin.token.' + HALL.id;
  var last = null;
  var shown = '';

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function loggedIn() { return !!token() && !$('app').hidden; }

  function say(text, problems) {
    $('calendar-status').textContent = text;
    $('calendar-problems').textContent = (problems || []).join('\n');
    $('calendar-problems').hidden = !(problems && problems.length);
  }
  function refused(res) {
    var err = (res.data && res.data.error) || {};
    say(HQ.errorText(res), err.problems);
  }

  function cell(text) {
    var td = document.createElement('td');
    td.textContent = text;
    return td;
  }

  function row(kind, entry, days, name) {
    var tr = document.createElement('tr');
    tr.dataset.kind = kind;
    tr.dataset.day = entry.date;
    tr.dataset.added = String(entry.added);
    [HQ.t(kind === 'holidays' ? 'm_cal_holiday' : 'm_cal_workday'), days, name,
      HQ.t(entry.added ? 'm_cal_added' : 'm_cal_in_file')].forEach(function (t) { tr.appendChild(cell(t)); });
    var actions = document.createElement('td');
    if (entry.added) {
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = HQ.t('m_cal_remove');
      b.dataset.action = 'remove';
      b.addEventListener('click', function () {
        HQ.api('DELETE', API + '/' + kind + '/' + encodeURIComponent(entry.date), null, token()).then(done(entry.date));
      });
      actions.appendChild(b);
    } else {  // the hand-written hall file's: the server refuses to remove it (in_hall_file)
      actions.className = 'muted';
      actions.textContent = HQ.t('m_cal_in_file_why');
    }
    tr.appendChild(actions);
    return tr;
  }

  function render(calendar) {
    last = calendar;
    var today = $('calendar-today');
    today.textContent = calendar.holiday
      ? HQ.t('m_cal_today_holiday', {date: calendar.today, holiday: calendar.holiday})
      : HQ.t('m_cal_today', {date: calendar.today});
    today.className = calendar.holiday ? 'error' : 'muted';
    var body = $('calendar-table').tBodies[0];
    body.textContent = '';
    var rows = [];
    calendar.holidays.forEach(function (h) {
      rows.push([h.date, row('holidays', h, h.until === h.date ? h.date : h.date + ' – ' + h.until, h.name)]);
    });
    calendar.workdays.forEach(function (w) {
      var hours = HQ.t('m_cal_hours_of') + ' ' + HQ.t('m_wd_' + w.hours_of);
      rows.push([w.date, row('workdays', w, w.date, (w.name ? w.name + ' · ' : '') + hours)]);
    });
    rows.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0; });
    rows.forEach(function (r) { body.appendChild(r[1]); });
  }

  function load() {
    if (!loggedIn()) return;
    HQ.api('GET', API, null, token()).then(function (res) {
      if (!res.ok) return;
      var seen = JSON.stringify(res.data);  // redraw only what changed
      if (seen === shown) return;
      shown = seen;
      render(res.data.calendar);
      if (!$('holiday-date').value) $('holiday-date').value = res.data.calendar.today;
    });
  }

  function done(day) {
    return function (res) {
      if (!res.ok) return refused(res);
      say(HQ.t('m_cal_saved', {date: day}));
      shown = JSON.stringify(res.data);
      render(res.data.calendar);
    };
  }

  $('holiday-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = {date: $('holiday-date').value, name: $('holiday-name').value.trim()};
    if ($('holiday-until').value) body.until = $('holiday-until').value;
    HQ.api('POST', API + '/holidays', body, token()).then(function (res) {
      done(body.date)(res);
      if (res.ok) $('holiday-form').reset();
    });
  });

  $('workday-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = {date: $('workday-date').value};
    if ($('workday-hours').value) body.hours_of = $('workday-hours').value;
    if ($('workday-name').value.trim()) body.name = $('workday-name').value.trim();
    HQ.api('POST', API + '/workdays', body, token()).then(function (res) {
      done(body.date)(res);
      if (res.ok) $('workday-form').reset();
    });
  });

  new MutationObserver(function () { if (loggedIn()) load(); })
    .observe($('app'), {attributes: true, attributeFilter: ['hidden']});
  HQ.onLang(function () { if (last) render(last); });
  load();
})();
