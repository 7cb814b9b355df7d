/**
 * Chat prompts: a list of messages rendered with the model's Jinja chat template (from the
 * GGUF's `tokenizer.chat_template` or the folder's tokenizer_config.json), evaluated by
 * `@huggingface/jinja` exactly as transformers' `apply_chat_template` does (variables
 * `messages`, `bos_token`, `eos_token`, `add_generation_prompt`; the library provides
 * `raise_exception`, whose message becomes a one-line UserError).
 *
 * Base models have no template: FALLBACK_CHAT_TEMPLATE is used, a plain transcript
 *
 *     <s>{system}\n\nUser: {user}\nAssistant: {assistant}</s>\nUser: ...\nAssistant:
 *
 * and generation also stops at "\nUser:" so the model does not write the user's next turn.
 *
 * The rendered text carries its special tokens as text (`<s>`, `[INST]`, `<|eot_id|>`), so it
 * is tokenised with `parseSpecial: true` and without another BOS (`chatGenerateOptions`).
 */
import { Template } from "@huggingface/jinja";
import type { LanguageModel } from "../runtime/language-model.js";
import { UserError } from "../util/errors.js";
import type { GenerateOptions } from "./types.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string;
}

export const FALLBACK_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}" +
  "{% if m.role == 'system' %}{{ m.content }}\n\n" +
  "{% elif m.role == 'user' %}User: {{ m.content }}\n" +
  "{% else %}Assistant: {{ m.content }}{{ eos_token }}\n{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

/** Stop strings added when the fallback template is used. */
export const FALLBACK_STOP = ["\nUser:"];

const compiled = new Map<string, Template>();

function templateFor(source: string): Template {
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (e) {
      throw new UserError(`the model's chat template does not parse: ${(e as Error).message}`);
    }
    compiled.set(source, t);
  }
  return t;
}

/** The messages as prompt text, ending with the assistant's turn opened (by default). */
export function renderChat(
  lm: Pick<LanguageModel, "tokenizer" | "chatTemplate">,
  messages: readonly ChatMessage[],
  opts: { addGenerationPrompt?: boolean; template?: string } = {},
): string {
  const tok = lm.tokenizer;
  if (!tok) throw new UserError("chat needs a tokenizer, and this model has none");
  const special = (id: number): string => (id >= 0 ? tok.idToPiece(id) : "");
  const source = opts.template ?? lm.chatTemplate ?? FALLBACK_CHAT_TEMPLATE;
  try {
    return templateFor(source).render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      bos_token: special(tok.bosId),
      eos_token: special(tok.eosId),
      add_generation_prompt: opts.addGenerationPrompt ?? true,
    });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`the chat template failed: ${(e as Error).message}`);
  }
}

/** Generation options for a rendered chat prompt: specials parsed, no extra BOS, the fallback's stop string. */
export function chatGenerateOptions(lm: Pick<LanguageModel, "chatTemplate">, opts: GenerateOptions = {}): GenerateOptions {
  const stop = [...(opts.stop ?? []), ...(lm.chatTemplate ? [] : FALLBACK_STOP)];
  return { ...opts, bos: false, parseSpecial: true, stop };
}
