/*
 * charts.js — grouped bar charts drawn as inline SVG, no library.
 *
 * Classic script; defines window.HallCharts.
 *
 *   HallCharts.bars(container, {
 *     title: 'Served per window',                // <title> of the SVG (screen readers)
 *     groups: [{key: '1', label: '1号窗口'}, …], // x axis, left to right
 *     series: [{key: '2026-07', label: '7月 Jul'}, …], // one bar per group and series
 *     value: function (groupKey, seriesKey) { return 12; },   // number, or null = no data
 *     format: function (v) { return String(v); },             // label above a bar
 *     max: 1,                                     // optional fixed top of the scale
 *     minMax: 60,                                 // optional least top (e.g. one minute)
 *     integer: true,                              // counts: whole-number grid steps
 *     compoundKeys: true,                         // "GROUP|SERIES" keys even for one series
 *   });
 *
 * Every bar is an SVG <rect class="bar"> with
 *   data-key="GROUP|SERIES" (just "GROUP" when there is one series, unless compoundKeys),
 *   data-group, data-series and data-value (the number exactly as given),
 * so tests and people with dev tools can read the figures off the chart. A value of 0
 * draws a zero-height bar (still present, data-value="0"); null draws no bar but
 * keeps the slot and prints "—", because "nothing measured" is not "zero".
 */
(function (global) {
  'use strict';

  var SVG_NS = 'http://www.w3.org/2000/svg';
  // Colour-blind-safe palette (Okabe–Ito), dark enough on white for the labels.
  var PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000',
    '#F0E442'];

  function el(name, attrs, text) {
    var node = global.document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /**
   * A "nice" grid step near raw: 1, 2, 2.5 or 5 times a power of ten (no 2.5 and never
   * below 1 for counts, so a scale of visitors never shows half a visitor).
   */
  function niceStep(raw, integer) {
    if (!(raw > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = integer ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * p >= raw) return integer ? Math.max(1, steps[i] * p) : steps[i] * p;
    }
    return 10 * p;
  }

  /** {max, step} of the value axis: about four grid steps covering top. */
  function scale(top, spec) {
    if (spec.max) return {max: spec.max, step: spec.max / 4};
    top = Math.max(top, spec.minMax || 0);
    var step = niceStep(top / 4, !!spec.integer);
    return {max: step * Math.max(1, Math.ceil(top / step - 1e-9)), step: step};
  }

  /** Rough rendered width of a label at 11 px: CJK characters are about twice as wide. */
  function textWidth(text) {
    var w = 0;
    for (var i = 0; i < text.length; i++) w += text.charCodeAt(i) > 0x2e80 ? 11 : 6.5;
    return w;
  }

  function bars(container, spec) {
    var groups = spec.groups || [];
    var series = spec.series && spec.series.length ? spec.series : [{key: '', label: ''}];
    var format = spec.format || function (v) { return String(v); };
    // One unnamed series: keys are just the group. `compoundKeys` keeps "GROUP|SERIES" (and
    // the legend) even for one series, e.g. a month range that happens to be one month.
    var single = series.length === 1 && !spec.compoundKeys;

    var top = 0;
    groups.forEach(function (g) {
      series.forEach(function (s) {
        var v = spec.value(g.key, s.key);
        if (typeof v === 'number' && v > top) top = v;
      });
    });
    var axis = scale(top, spec);
    var scaleMax = axis.max;

    var barW = 26, barGap = 4, groupGap = 22, plotH = 180;
    var left = 48, right = 12, topPad = 24, bottom = 46;
    var barsW = series.length * barW + (series.length - 1) * barGap;
    var labelW = 0;
    groups.forEach(function (g) { labelW = Math.max(labelW, textWidth(String(g.label))); });
    // A slot is as wide as its bars or its label, whichever is wider; bars are centred.
    var groupW = Math.max(barsW, labelW - groupGap + 6);
    var width = Math.max(320, left + right + groups.length * (groupW + groupGap));
    var legendH = single ? 0 : 22 * Math.ceil(series.length / 4);
    var height = topPad + plotH + bottom + legendH;

    var svg = el('svg', {
      viewBox: '0 0 ' + width + ' ' + height, width: width, height: height,
      role: 'img', 'class': 'chart', 'aria-label': spec.title || ''
    });
    svg.appendChild(el('title', {}, spec.title || ''));

    // Horizontal grid lines with scale labels, one per step.
    var ticks = Math.round(scaleMax / axis.step);
    for (var i = 0; i <= ticks; i++) {
      var gv = axis.step * i;
      var gy = topPad + plotH - plotH * i / ticks;
      svg.appendChild(el('line', {x1: left, x2: width - right, y1: gy, y2: gy, 'class': 'grid'}));
      svg.appendChild(el('text', {x: left - 6, y: gy + 4, 'text-anchor': 'end', 'class': 'axis'},
        format(gv)));
    }

    groups.forEach(function (g, gi) {
      var gx = left + groupGap / 2 + gi * (groupW + groupGap);
      var bx = gx + (groupW - barsW) / 2;
      series.forEach(function (s, si) {
        var v = spec.value(g.key, s.key);
        var x = bx + si * (barW + barGap);
        var key = single ? g.key : g.key + '|' + s.key;
        if (typeof v !== 'number' || isNaN(v)) {
          svg.appendChild(el('text', {x: x + barW / 2, y: topPad + plotH - 4,
            'text-anchor': 'middle', 'class': 'nodata'}, '—'));
          return;
        }
        var h = Math.max(0, Math.min(plotH, plotH * v / scaleMax));
        var rect = el('rect', {
          x: x, y: topPad + plotH - h, width: barW, height: h,
          fill: PALETTE[si % PALETTE.length], 'class': 'bar',
          'data-key': key, 'data-group': g.key, 'data-series': s.key, 'data-value': v
        });
        rect.appendChild(el('title', {}, g.label + (single ? '' : ' · ' + s.label) + ': ' +
          format(v)));
        svg.appendChild(rect);
        svg.appendChild(el('text', {x: x + barW / 2, y: topPad + plotH - h - 4,
          'text-anchor': 'middle', 'class': 'value'}, format(v)));
      });
      svg.appendChild(el('text', {x: gx + groupW / 2, y: topPad + plotH + 18,
        'text-anchor': 'middle', 'class': 'label'}, g.label));
    });

    if (!single) {
      series.forEach(function (s, si) {
        var lx = left + (si % 4) * 150;
        var ly = topPad + plotH + bottom + 22 * Math.floor(si / 4);
        svg.appendChild(el('rect', {x: lx, y: ly - 10, width: 12, height: 12,
          fill: PALETTE[si % PALETTE.length]}));
        svg.appendChild(el('text', {x: lx + 18, y: ly, 'class': 'legend'}, s.label));
      });
    }

    if (!groups.length) {
      svg.appendChild(el('text', {x: width / 2, y: topPad + plotH / 2, 'text-anchor': 'middle',
        'class': 'nodata'}, window.HQ ? window.HQ.t('m_no_data') : 'No data'));
    }

    container.textContent = '';
    container.appendChild(svg);
    return svg;
  }

  global.HallCharts = {bars: bars, scale: scale};
})(window);
