// Display formats: times in the clinic's zone, durations, percentages, opening hours.

export function dateTime(iso, timeZone) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, {
    timeZone, dateStyle: "medium", timeStyle: "short",
  });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(0)}%`;
}

export function ms(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value)} ms`;
}

// "08:00-12:00, 13:00-17:00" <-> [["08:00","12:00"],["13:00","17:00"]]
export function intervalsText(intervals = []) {
  return intervals.map(([start, end]) => `${start}-${end}`).join(", ");
}

export function parseIntervals(text) {
  return text.split(",").map((part) => part.trim()).filter(Boolean)
    .map((part) => part.split("-").map((t) => t.trim()));
}

// One "key: value" per line <-> an object.
export function linesText(object = {}) {
  return Object.entries(object).map(([key, value]) => `${key}: ${value}`).join("\n");
}

export function parseLines(text) {
  const result = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf(":");
    if (at > 0) result[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return result;
}

export function listText(items = []) { return items.join("\n"); }
export function parseList(text) { return text.split("\n").map((s) => s.trim()).filter(Boolean); }

export const WEEKDAYS = [
  ["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
  ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"],
];
