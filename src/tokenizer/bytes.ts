/**
 * GPT-2's byte → printable character table (the alphabet of byte-level BPE vocabularies): printable
 * Latin-1 bytes map to themselves, the other 68 to U+0100 onwards in byte order. The Rust twin is
 * rust/src/tokenizer/bytes.rs.
 */
export function byteChars(): string[] {
  const table: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table.push(String.fromCodePoint(printable ? b : next++));
  }
  return table;
}
