/**
 * CSV as RFC 4180 writes it: fields separated by commas, records by CRLF or LF, a field with
 * a comma, quote or line break in double quotes with its quotes doubled.
 */
export interface CsvRecords {
  records: string[][];
  /** Where the last record that ended with a line break ends: what survived a crash intact. */
  completeEnd: number;
  /** How many records ended with a line break (the rest is a record cut short, if any). */
  complete: number;
}

export function parseCsv(text: string): CsvRecords {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let completeEnd = 0;
  let complete = 0;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
      continue;
    }
    if (c === '"') {
      quoted = true;
      started = true;
    } else if (c === ',') {
      record.push(field);
      field = '';
      started = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      started = false;
      completeEnd = i + 1;
      complete = records.length;
    } else {
      field += c;
      started = true;
    }
  }
  if (started || field !== '') {
    record.push(field);
    records.push(record);
  }
  return { records, completeEnd, complete };
}

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) || /^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvRecord(fields: string[]): string {
  return `${fields.map(csvField).join(',')}\n`;
}
