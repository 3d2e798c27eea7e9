// Column profiles (issue 23), computed by the preview's reader process (reader.mjs) over the
// whole table once it is in its columnar copy: exact null and distinct counts, min and max,
// mean and standard deviation, an equal-width histogram, the most frequent values. Plain
// JavaScript, like reader.mjs: the child starts with plain Node.
//
// The copy's columns are named r (the row's position) and c0, c1, … in file order, so no name
// from the file is ever written into SQL here; the few numbers that are (bounds of bins) are
// parameters.

/** At most this many histogram bins (docs/api.md). */
export const MAX_BINS = 20;
/** The most frequent values kept. */
export const TOP_VALUES = 10;

const INTEGER = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;
const FRACTIONAL = /^(FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$/;

/** What a profile says of a column of type `type`: "integer", "fractional", "date", "timestamp", "text", "boolean" or "other". */
export function kindOf(type) {
  if (INTEGER.test(type)) return "integer";
  if (FRACTIONAL.test(type)) return "fractional";
  if (type === "DATE") return "date";
  if (/^TIMESTAMP(_S|_MS|_NS| WITH TIME ZONE)?$/.test(type)) return "timestamp";
  if (type === "VARCHAR") return "text";
  if (type === "BOOLEAN") return "boolean";
  return "other";
}

/** A value as DuckDB's JSON gives it, as the API shows it: whole numbers and short decimals as numbers when a double holds them exactly. */
export function jsonValue(type, value, maxChars) {
  if (typeof value === "string") {
    if (INTEGER.test(type) && Number.isSafeInteger(Number(value))) return Number(value);
    if (type.startsWith("DECIMAL") && value.replace(/^-?0*\.?0*|[.]/g, "").length <= 15) return Number(value);
    return value.length > maxChars ? `${value.slice(0, maxChars)}…` : value;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}

const finite = (value) => (typeof value === "number" && Number.isFinite(value) ? value : null);

async function rows(connection, sql, values) {
  return (await connection.runAndReadAll(sql, values)).getRowsJson();
}

const BIGINT_MIN = -(2n ** 63n);
const BIGINT_MAX = 2n ** 63n - 1n;

/** Bins of whole units over [min, max] (integers, and dates as days): both ends included. */
async function wholeBins(connection, table, column, min, max, toValue) {
  const span = max - min + 1n;
  const width = (span + BigInt(MAX_BINS) - 1n) / BigInt(MAX_BINS);
  const count = Number((span + width - 1n) / width);
  // BIGINT arithmetic where every value and every difference fits it (about ten times faster
  // than HUGEINT's over millions of rows); HUGEINT for the rest (UBIGINT, HUGEINT, far-apart bounds).
  const type = min >= BIGINT_MIN && max <= BIGINT_MAX && span <= BIGINT_MAX ? "bigint" : "hugeint";
  const found = await rows(
    connection,
    `select ((${column}::${type} - $1::${type}) // $2::${type})::integer as b, count(*)::bigint from ${table} where ${column} is not null group by b`,
    [min.toString(), width.toString()],
  );
  const counts = new Map(found.map(([bin, n]) => [Number(bin), Number(n)]));
  return Array.from({ length: count }, (_, index) => {
    const from = min + BigInt(index) * width;
    const last = from + width - 1n;
    return { from: toValue(from), to: toValue(last > max ? max : last), count: counts.get(index) ?? 0 };
  });
}

/** MAX_BINS bins of equal width over [min, max] of `measure` (a double): `from` included, `to` excluded but for the last. */
async function evenBins(connection, table, measure, min, max, toValue) {
  if (min === max) {
    const [[n]] = await rows(connection, `select count(*)::bigint from ${table} where ${measure} = $1::double`, [String(min)]);
    return [{ from: toValue(min), to: toValue(max), count: Number(n) }];
  }
  const width = (max - min) / MAX_BINS;
  const found = await rows(
    connection,
    `select least(floor((${measure} - $1::double) / $2::double), ${MAX_BINS - 1})::integer as b, count(*)::bigint
     from ${table} where ${measure} between $1::double and $3::double group by b`,
    [String(min), String(width), String(max)],
  );
  const counts = new Map(found.map(([bin, n]) => [Number(bin), Number(n)]));
  return Array.from({ length: MAX_BINS }, (_, index) => ({
    from: toValue(min + index * width),
    to: toValue(index === MAX_BINS - 1 ? max : min + (index + 1) * width),
    count: counts.get(index) ?? 0,
  }));
}

const DAY_MS = 86_400_000;
const dateOf = (days) => new Date(Number(days) * DAY_MS).toISOString().slice(0, 10);

/** Microseconds since 1970 written as DuckDB writes a timestamp (`2024-01-01 10:00:00`, `+00` with a time zone). */
function timestampOf(micros, withZone) {
  const whole = Math.floor(micros);
  const millis = Math.floor(whole / 1000);
  const fraction = ((whole % 1_000_000) + 1_000_000) % 1_000_000;
  const iso = new Date(millis).toISOString();
  const text = `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${String(fraction).padStart(6, "0").replace(/0+$/, "")}` : ""}`;
  return withZone ? `${text}+00` : text;
}

/**
 * The profile of column `index` (named c<index> in `table`), of `type` in the copy, shown
 * with the name and type the file gave it. `nonNull` is its count of values.
 */
export async function columnProfile(connection, table, index, column, nonNull, rowCount, maxChars) {
  const ref = `c${index}`;
  const kind = kindOf(column.storedType);
  const profile = {
    name: column.name,
    type: column.type,
    nullCount: rowCount - nonNull,
    distinctCount: null,
    min: null,
    max: null,
    mean: null,
    stddev: null,
    histogram: null,
    topValues: null,
  };
  if (kind === "other") {
    // Lists, structs, maps…: counted when DuckDB can compare them, else left out.
    try {
      const [[distinct]] = await rows(connection, `select count(distinct ${ref})::bigint from ${table}`);
      profile.distinctCount = Number(distinct);
    } catch {
      profile.distinctCount = null;
    }
    return profile;
  }
  const numeric = kind === "integer" || kind === "fractional";
  const extremes = kind === "boolean" ? "null, null" : `min(${ref}), max(${ref})`;
  const moments = numeric ? `avg(${ref})::double, stddev_samp(${ref})::double` : "null, null";
  const measure = kind === "date" ? `(${ref} - date '1970-01-01')::bigint` : kind === "timestamp" ? `epoch_us(${ref})::bigint` : "null";
  const [[distinct, min, max, mean, stddev, low, high]] = await rows(
    connection,
    `select count(distinct ${ref})::bigint, ${extremes}, ${moments}, min(${measure})::varchar, max(${measure})::varchar from ${table}`,
  );
  profile.distinctCount = Number(distinct);
  if (kind !== "boolean") {
    profile.min = min === null ? null : jsonValue(column.storedType, min, maxChars);
    profile.max = max === null ? null : jsonValue(column.storedType, max, maxChars);
  }
  if (numeric) {
    profile.mean = finite(mean);
    profile.stddev = finite(stddev);
  }
  if (nonNull > 0) {
    if (kind === "integer") {
      profile.histogram = await wholeBins(connection, table, ref, BigInt(min), BigInt(max), (value) =>
        jsonValue("BIGINT", value.toString(), maxChars),
      );
    } else if (kind === "fractional") {
      const [lowest, highest] = [Number(min), Number(max)];
      if (Number.isFinite(lowest) && Number.isFinite(highest)) {
        profile.histogram = await evenBins(connection, table, `${ref}::double`, lowest, highest, (value) => value);
      }
    } else if (kind === "date") {
      profile.histogram = await wholeBins(connection, table, measure, BigInt(low), BigInt(high), dateOf);
    } else if (kind === "timestamp") {
      const withZone = column.storedType.endsWith("WITH TIME ZONE");
      profile.histogram = await evenBins(connection, table, `${measure}::double`, Number(low), Number(high), (value) => timestampOf(value, withZone));
    }
  }
  if (kind === "text" || kind === "boolean") {
    const top = await rows(
      connection,
      `select ${ref}, count(*)::bigint as n from ${table} where ${ref} is not null group by ${ref} order by n desc, ${ref} limit ${TOP_VALUES}`,
    );
    profile.topValues = top.map(([value, count]) => ({ value: jsonValue(column.storedType, value, maxChars), count: Number(count) }));
  }
  return profile;
}
