// The server's rules for names and message text (chatapp/protocol.py), checked before
// anything is sent. The server keeps enforcing them; checking here first lets a refusal
// say which text it means while that text stays where the person typed it.

const NAME_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const NAME_INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/;
const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

// A length as the server counts it. Python's len() counts code points; a string's .length
// counts UTF-16 units, which would call an emoji two characters and refuse text the
// server accepts.
export function codePointLength(text) {
  return [...text].length;
}

function characters(n) {
  return n.toLocaleString() + (n === 1 ? " character" : " characters");
}

export function nameProblem(name, maxUser) {
  if (codePointLength(name) > maxUser) return "Names are at most " + maxUser + " characters.";
  if (NAME_CONTROL.test(name) || NAME_INVISIBLE.test(name)) {
    return "That name contains invisible or control characters; please type it again.";
  }
  if (LONE_SURROGATE.test(name)) return "That name contains a broken character; please type it again.";
  return null;
}

export function messageProblem(text, maxMessage) {
  const length = codePointLength(text);
  if (length > maxMessage) {
    return "That message is " + characters(length) + " long; the limit is " + maxMessage.toLocaleString()
      + ". Remove " + characters(length - maxMessage) + " to send it.";
  }
  // The server refuses these too, but its answer could not say which message it meant.
  if (TEXT_CONTROL.test(text)) return "The message contains control characters.";
  if (LONE_SURROGATE.test(text)) return "The message contains a broken character.";
  return null;
}
