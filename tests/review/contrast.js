// WCAG AA on the rendered page: every visible text's colour against the background it is drawn on,
// and every form control's border or fill against the background around it. Returns the failures.
(() => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let out = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) out = over(layer, out);
    return out;
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none" && r.right > 0;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "");
  const failures = [];
  const native = [];
  let checked = 0;
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg") || !visible(el)) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el);
    const fg = parse(s.color);
    const bg = background(el);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(s.fontWeight, 10) >= 700);
    const need = large ? 3 : 4.5;
    const got = ratio(over(fg, bg), bg);
    checked += 1;
    if (got < need) failures.push({ what: "text", el: name(el), text: el.textContent.trim().slice(0, 40), ratio: got, need });
  }
  for (const el of document.querySelectorAll("button, a.button, input:not([type=hidden]), select, textarea")) {
    if (!visible(el)) continue;
    const s = getComputedStyle(el);
    const around = background(el.parentElement);
    const fill = parse(s.backgroundColor);
    const border = parse(s.borderTopColor);
    const best = Math.max(
      fill && fill.a > 0 ? ratio(over(fill, around), around) : 1,
      border && parseFloat(s.borderTopWidth) > 0 ? ratio(over(border, around), around) : 1,
    );
    checked += 1;
    if (best >= 3) continue;
    if (s.appearance === "auto" && el.id) {  // drawn natively: measured in its pixels by the caller
      native.push({ id: el.id, around: [around.r, around.g, around.b] });
    } else {
      failures.push({ what: "control", el: name(el), ratio: best, need: 3 });
    }
  }
  return { checked, failures, native };
})()
