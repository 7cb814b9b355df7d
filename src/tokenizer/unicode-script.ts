/**
 * Unicode Script property of a code point (the trainer forbids pieces that mix scripts, as
 * SentencePiece's split_by_unicode_script does). Uses the engine's own Unicode tables through
 * regular-expression property escapes, one lookup per distinct code point (cached).
 */

const SCRIPT_NAMES = (
  "Latin Common Inherited Han Hiragana Katakana Hangul Cyrillic Greek Arabic Hebrew Devanagari Thai " +
  "Adlam Ahom Anatolian_Hieroglyphs Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali Bhaiksuki Bopomofo " +
  "Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham Cherokee Chorasmian " +
  "Coptic Cuneiform Cypriot Cypro_Minoan Deseret Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs Elbasan Elymaic " +
  "Ethiopic Georgian Glagolitic Gothic Grantha Gujarati Gunjala_Gondi Gurmukhi Hanifi_Rohingya Hanunoo Hatran " +
  "Imperial_Aramaic Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Kawi Kayah_Li Kharoshthi " +
  "Khitan_Small_Script Khmer Khojki Khudawadi Lao Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian Mahajani " +
  "Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui " +
  "Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nag_Mundari Nandinagari " +
  "New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian " +
  "Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage Osmanya Pahawh_Hmong " +
  "Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian " +
  "Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le " +
  "Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut Telugu Thaana Tibetan Tifinagh Tirhuta Toto Ugaritic Vai Vithkuqi " +
  "Wancho Warang_Citi Yezidi Yi Zanabazar_Square"
).split(" ");

/** Script numbers: index into SCRIPT_NAMES. */
export const SCRIPT_COMMON = 1;
export const SCRIPT_INHERITED = 2;
export const SCRIPT_HAN = 3;
export const SCRIPT_HIRAGANA = 4;
export const SCRIPT_KATAKANA = 5;

let matcher: RegExp | undefined;
let supported: number[] = [];
const cache = new Map<number, number>();

function build(): RegExp {
  const parts: string[] = [];
  supported = [];
  SCRIPT_NAMES.forEach((name, i) => {
    try {
      new RegExp(`\\p{Script=${name}}`, "u");
      parts.push(`(\\p{Script=${name}})`);
      supported.push(i);
    } catch {
      // A script newer than this engine's Unicode tables: its characters count as Common.
    }
  });
  return new RegExp(`^(?:${parts.join("|")})`, "u");
}

/** The script number of code point c; unassigned and unknown characters are Common. */
export function scriptOf(c: number): number {
  if (c < 0x80) {
    // Fast path: ASCII letters are Latin, everything else in ASCII is Common.
    return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ? 0 : SCRIPT_COMMON;
  }
  const hit = cache.get(c);
  if (hit !== undefined) return hit;
  matcher ??= build();
  const m = matcher.exec(String.fromCodePoint(c));
  let script = SCRIPT_COMMON;
  if (m) {
    for (let g = 1; g < m.length; g++) {
      if (m[g] !== undefined) {
        script = supported[g - 1]!;
        break;
      }
    }
  }
  cache.set(c, script);
  return script;
}

export function scriptName(script: number): string {
  return SCRIPT_NAMES[script] ?? "Common";
}
