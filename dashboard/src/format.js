// Numbers as people read them: $ART amounts (18 decimals) from the API's decimal strings,
// exactly (BigInt), block times, short hashes.

const WAD = 10n ** 18n;

export function art(amount, digits = 6) {
  if (amount === null || amount === undefined) return "–";
  const value = BigInt(amount);
  const sign = value < 0n ? "-" : "";
  const abs = value < 0n ? -value : value;
  const whole = abs / WAD;
  const scale = 10n ** BigInt(18 - digits);
  const fraction = ((abs % WAD) / scale).toString().padStart(digits, "0");
  return `${sign}${whole.toLocaleString("en-US")}.${fraction} ART`;
}

// An amount as a JavaScript number of ART, for charts (exact enough to draw).
export function artNumber(amount) {
  return Number(BigInt(amount) / 10n ** 9n) / 1e9;
}

export function short(hex, keep = 8) {
  if (!hex) return "–";
  const text = String(hex);
  return text.length > keep * 2 + 2 ? `${text.slice(0, keep + 2)}…${text.slice(-4)}` : text;
}

export function when(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return new Date(Number(seconds) * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function count(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

export function age(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
