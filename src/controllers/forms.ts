// Form parsing with zod (SECURITY S21): bounded lengths, checked types, real dates, no unknown or repeated
// fields, no control characters. A failed parse gives per-field message keys and the values to show again
// (never a password).
import { z } from 'zod';
import type { MessageKey } from '../i18n/i18n.js';
import { AppError, NotFoundError } from '../middleware/errors.js';
import { INTERVALS } from '../services/catalog-service.js';
import { CANCEL_REASONS } from '../services/subscription-service.js';
import { passwordProblem } from '../services/passwords.js';

export type FormErrors = Partial<Record<string, MessageKey>>;
export type Parsed<T> = { ok: true; data: T } | { ok: false; values: Record<string, string>; errors: FormErrors };

const SECRET_FIELDS = new Set(['password', 'currentPassword', '_csrf', 'token']);

// Tabs and newlines are fine in multi-line fields; every other control character (NUL included) is refused.
const SINGLE_LINE = /^[^\u0000-\u001f\u007f]*$/;
const MULTI_LINE = /^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$/;

const line = (max: number, key: MessageKey) => z.string({ error: 'form.invalid' }).max(max, { error: key }).regex(SINGLE_LINE, { error: 'form.control_chars' });
const text = (max: number, key: MessageKey) => z.string({ error: 'form.invalid' }).max(max, { error: key }).regex(MULTI_LINE, { error: 'form.control_chars' });

export const emailField = line(254, 'email.too_long')
  .transform((v) => v.trim().toLowerCase())
  .pipe(z.string().min(1, { error: 'email.required' }).regex(/^[^\s@"<>()[\]\\,;:]+@[^\s@"<>()[\]\\,;:]+\.[^\s@"<>()[\]\\,;:]{2,}$/, { error: 'email.invalid' }));

// Passwords are taken exactly as typed; the length rule is in bytes (bcrypt's limit) and checked with the others.
// Control characters are refused: bcrypt would stop at a NUL byte and silently ignore the rest.
const passwordField = z.string({ error: 'form.invalid' }).max(1024, { error: 'password.too_long' }).min(1, { error: 'password.required' })
  .regex(SINGLE_LINE, { error: 'form.control_chars' });
/** A new password: the rules that need nothing else are checked on the field, the email rule on the whole form. */
const newPasswordField = passwordField.superRefine((v, ctx) => {
  const problem = passwordProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `password.${problem}` });
});

const csrf = z.string().max(200).optional();

function isRealDate(v: string): boolean {
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
}

export function dateField(today: string, options: { maxYearsAhead?: number } = {}) {
  const max = `${Number(today.slice(0, 4)) + (options.maxYearsAhead ?? 1)}${today.slice(4)}`;
  return line(10, 'date.invalid')
    .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'date.invalid' })
    .refine(isRealDate, { error: 'date.invalid' })
    .refine((v) => v >= today, { error: 'date.past' })
    .refine((v) => v <= max, { error: 'date.too_far' });
}

export function preferencesShape(today: string, bouquets: readonly string[]) {
  return {
    bouquet: z.string({ error: 'bouquet.required' }).refine((v) => bouquets.includes(v), { error: 'bouquet.required' }),
    address: text(500, 'address.too_long').transform((v) => v.trim()).pipe(z.string().min(5, { error: 'address.required' })),
    deliveryDate: dateField(today),
    interval: z.enum(INTERVALS, { error: 'interval.required' }),
    wishes: text(2000, 'wishes.too_long').transform((v) => v.trim()).optional().default(''),
  };
}

function checkPassword(field: string, emailOf: (data: Record<string, unknown>) => string | undefined) {
  return (data: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const problem = typeof data[field] === 'string' ? passwordProblem(data[field], emailOf(data)) : null;
    if (problem) ctx.addIssue({ code: 'custom', path: [field], message: `password.${problem}` });
  };
}

/** A ticked box sends `yes`; an unticked one sends nothing. Anything else is a forged form. */
const requiredConsent = (key: MessageKey) => z.literal('yes', { error: key });
const optionalConsent = z.literal('yes', { error: 'form.invalid' }).optional();

/** The analytics consent is a field of the form only when analytics is configured. */
export function signupSchema(today: string, bouquets: readonly string[], { analytics = false } = {}) {
  return z.strictObject({
    _csrf: csrf, email: emailField, password: newPasswordField, ...preferencesShape(today, bouquets),
    consentPersonalData: requiredConsent('consent.personal_data.required'), consentMarketing: optionalConsent,
    consentAnalytics: analytics ? optionalConsent : z.undefined({ error: 'form.invalid' }).optional(),
  }).superRefine(checkPassword('password', (d) => d.email as string));
}

/** The interstitial that asks again for a required consent whose text has a new version. */
export const consentRenewalSchema = z.strictObject({ _csrf: csrf, consentPersonalData: requiredConsent('consent.personal_data.required') });

export function preferencesSchema(today: string, bouquets: readonly string[]) {
  return z.strictObject({ _csrf: csrf, ...preferencesShape(today, bouquets) });
}

/** Characters as a person counts them (code points: an emoji is one), as PostgreSQL's char_length does. */
const characters = (v: string) => [...v].length;

/**
 * A Russian phone number as people type it — `+7 912 345-67-89`, `8 (912) 345 67 89`, `9123456789` — with spaces,
 * dashes and parentheses anywhere, as `+7XXXXXXXXXX`; null for anything else. The ten digits start with 3, 4, 80–88
 * or 9 (Russian geographic, toll-free and mobile codes): a Kazakh +7 7… number and a mobile number missing a digit
 * after its 8 (`8912345678`) are refused.
 */
function russianPhone(value: string): string | null {
  const compact = value.replace(/[\s()-]/g, '');
  const m = /^(?:\+7|8|7)?((?:[349][0-9]|8[0-8])[0-9]{8})$/.exec(compact);
  return m ? `+7${m[1]}` : null;
}

/** The optional gift part of an order form: empty strings when the order is not a gift. */
const giftShape = {
  recipientName: line(400, 'recipient_name.too_long').transform((v) => v.trim())
    .pipe(z.string().refine((v) => characters(v) <= 100, { error: 'recipient_name.too_long' })).optional().default(''),
  recipientPhone: line(40, 'recipient_phone.invalid').transform((v) => v.trim())
    .pipe(z.string().refine((v) => v === '' || russianPhone(v) !== null, { error: 'recipient_phone.invalid' })).optional().default(''),
  cardMessage: text(1200, 'card_message.too_long').transform((v) => v.trim())
    .pipe(z.string().refine((v) => characters(v) <= 300, { error: 'card_message.too_long' })).optional().default(''),
};

/** Any gift field makes the order a gift, and a gift needs the recipient's name and phone. */
function giftComplete(data: { recipientName: string; recipientPhone: string; cardMessage: string }, ctx: z.RefinementCtx) {
  if (!data.recipientName && !data.recipientPhone && !data.cardMessage) return;
  if (!data.recipientName) ctx.addIssue({ code: 'custom', path: ['recipientName'], message: 'recipient_name.required' });
  if (!data.recipientPhone) ctx.addIssue({ code: 'custom', path: ['recipientPhone'], message: 'recipient_phone.required' });
}

export function orderSchema(today: string, bouquets: readonly string[]) {
  const { interval: _interval, ...shape } = preferencesShape(today, bouquets);
  return z.strictObject({ _csrf: csrf, ...shape, ...giftShape }).superRefine(giftComplete)
    .transform(({ recipientPhone, ...rest }) => ({ ...rest, recipientPhone: recipientPhone && russianPhone(recipientPhone)! }));
}

export const loginSchema = z.strictObject({
  _csrf: csrf,
  email: emailField,
  password: passwordField,
  remember: z.literal('1').optional(),
});

export const forgotSchema = z.strictObject({ _csrf: csrf, email: emailField });

export const loginCodeSchema = z.strictObject({ _csrf: csrf, email: emailField });

/** The mailed code: 6 digits, spaces between them forgiven ("123 456"). */
export const loginCodeVerifySchema = z.strictObject({
  _csrf: csrf,
  email: emailField,
  code: line(20, 'login_code.code_required').transform((v) => v.replace(/[ \t]/g, '')).pipe(z.string().regex(/^\d{6}$/, { error: 'login_code.code_required' })),
});

/** The second step of a staff login: a code from the app (6 digits, spaces forgiven) or one recovery code. */
export const secondFactorSchema = z.strictObject({
  _csrf: csrf,
  code: line(20, 'totp.required').transform((v) => v.replace(/[ \t]/g, '')).pipe(z.string().regex(/^(\d{6})?$/, { error: 'totp.required' })).optional(),
  recoveryCode: line(20, 'totp.required').transform((v) => v.trim()).pipe(z.string().regex(/^([0-9A-Za-z]{5}-?[0-9A-Za-z]{5})?$/, { error: 'totp.required' })).optional(),
});

/** The first code from the app, which turns TOTP on. */
export const totpConfirmSchema = z.strictObject({
  _csrf: csrf,
  code: line(20, 'totp.required').transform((v) => v.replace(/[ \t]/g, '')).pipe(z.string().regex(/^\d{6}$/, { error: 'totp.required' })),
});

export const resetSchema = z.strictObject({
  _csrf: csrf,
  token: z.string().max(200).regex(/^[A-Za-z0-9_-]*$/).optional(),
  password: newPasswordField,
});

export const passwordChangeSchema = (email: string) => z.strictObject({
  _csrf: csrf,
  currentPassword: passwordField,
  password: newPasswordField,
}).superRefine(checkPassword('password', () => email));

export const accountDeletionSchema = z.strictObject({ _csrf: csrf, currentPassword: passwordField });

export const emailChangeSchema = z.strictObject({ _csrf: csrf, currentPassword: passwordField, email: emailField });

/**
 * A one-click mail action (POST /m/:token): the button alone, a move's `newDate` (checked against the allowed range
 * by the service), or the RFC 8058 one-click body `List-Unsubscribe=One-Click`.
 */
export const mailActionSchema = z.strictObject({
  _csrf: csrf,
  newDate: line(10, 'mail_action.move.invalid_date').optional(),
  'List-Unsubscribe': z.literal('One-Click', { error: 'form.invalid' }).optional(),
});

/** The reminder setting on the account page: a ticked box sends `yes`, an unticked one nothing. */
export const remindersSchema = z.strictObject({ _csrf: csrf, reminders: z.literal('yes', { error: 'form.invalid' }).optional() });

/** A form that is only a button (confirm, cancel, re-sync…): the token and nothing else, or a 400. */
const buttonSchema = z.strictObject({ _csrf: csrf });
/** A staff page to go back to after an action: a path under /staff on this site (letters, digits, hyphens), nothing else. */
const staffPage = z.string().regex(/^\/staff(?:\/[a-z0-9-]+)*$/);
/** A re-sync button: on the customer's page, or elsewhere with the staff page to return to. */
export const resyncSchema = z.strictObject({ _csrf: csrf, return: staffPage.optional() });
export function requireButtonForm(body: unknown): void {
  if (!parseForm(buttonSchema, body).ok) throw new AppError(400, 'unexpected form fields');
}

/** A row id from the path: plain digits only (no sign, exponent, space or hex), else the page does not exist. */
export function pathId(value: unknown): number {
  const id = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : 0;
  if (id < 1) throw new NotFoundError();
  return id;
}

export function parseForm<T>(schema: z.ZodType<T>, body: unknown): Parsed<T> {
  const input = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, data: result.data };
  const errors: FormErrors = {};
  for (const issue of result.error.issues) {
    const field = issue.path.length ? String(issue.path[0]) : '_form';
    if (issue.code === 'unrecognized_keys' || field === '_csrf') errors._form ??= 'form.invalid';
    else errors[field] ??= (issue.message.includes('.') ? issue.message : 'form.invalid') as MessageKey;
  }
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(input)) {
    if (!SECRET_FIELDS.has(key) && typeof value === 'string') values[key] = value.slice(0, 2000);
  }
  return { ok: false, values, errors };
}

/** Giving or withdrawing an optional consent on /account/privacy; analytics only when analytics is configured. */
export function privacySchema({ analytics = false } = {}) {
  return z.strictObject({
    _csrf: csrf,
    document: z.enum(analytics ? ['marketing', 'analytics'] : ['marketing'], { error: 'form.invalid' }),
    action: z.enum(['grant', 'withdraw'], { error: 'form.invalid' }),
  });
}

/** The button of a mailed confirmation link (a form used without login: no `_csrf` needed, S14). */
export const confirmEmailSchema = z.strictObject({ _csrf: csrf, token: z.string({ error: 'form.invalid' }).max(200) });

/** Moving one delivery (POST /account/deliveries/:date/move): the new day; the rules are the service's. */
export const moveSchema = (today: string) => z.strictObject({ _csrf: csrf, newDate: dateField(today) });

/** Pausing (POST /account/pause): the first day delivered again. */
export const pauseSchema = (today: string) => z.strictObject({ _csrf: csrf, until: dateField(today) });

/**
 * Cancelling (POST /account/cancel): the reason and an optional comment; `decision` is the answer to the one
 * offer shown after the reason (`cancel` declines it, `monthly` takes the monthly interval instead).
 */
export const cancelSchema = z.strictObject({
  _csrf: csrf,
  reason: z.enum(CANCEL_REASONS, { error: 'cancel.reason_required' }),
  comment: text(500, 'cancel.comment_too_long').transform((v) => v.trim()).optional().default(''),
  decision: z.enum(['cancel', 'monthly'], { error: 'form.invalid' }).optional(),
});

/** Starting a cancelled subscription again (POST /account/reactivate). */
export const reactivateSchema = (today: string) => z.strictObject({ _csrf: csrf, deliveryDate: dateField(today) });
