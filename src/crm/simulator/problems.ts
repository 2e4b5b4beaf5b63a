// The error bodies real amoCRM answers with (application/problem+json, plus the nginx HTML pages seen on
// blocks and gateway failures), and the validation error items used by every write endpoint.
import { randomUUID } from 'node:crypto';
import type { Response } from 'express';

export type ValidationError = { code: string; path: string; detail: string };
export type ValidationGroup = { request_id: string; errors: ValidationError[] };
export type Problem = Record<string, unknown> & { status: number };

export const FIELD_IDENTITY_CODE = '36b4f074-7403-11ea-af30-00163e2085ae';

/** The validation error items amoCRM uses; `path` is relative to the entity in the batch. */
export const invalid = {
  choice: (path: string): ValidationError => ({ code: 'NotSupportedChoice', path, detail: 'The value you selected is not a valid choice.' }),
  type: (path: string, type: string): ValidationError => ({ code: 'InvalidType', path, detail: `This value should be of type ${type}.` }),
  missing: (path: string): ValidationError => ({ code: 'FieldMissing', path, detail: 'This field is missing.' }),
  fieldIdentity: (path: string): ValidationError => ({
    code: FIELD_IDENTITY_CODE, path, detail: 'You should use "field_id" or "field_code" to identify custom field.',
  }),
  tooMany: (path: string, max: number): ValidationError => ({
    code: 'CountMax', path, detail: `This collection should contain ${max} element${max === 1 ? '' : 's'} or less.`,
  }),
  blank: (path: string): ValidationError => ({ code: 'NotBlank', path, detail: 'This value should not be blank.' }),
};

const httpStatus = (status: number) => `https://httpstatus.es/${status}`;

export const problems = {
  validation: (groups: ValidationGroup[]): Problem => ({
    'validation-errors': groups, title: 'Bad Request', type: httpStatus(400), status: 400, detail: 'Request validation failed',
  }),
  emptyBody: (): Problem => ({ title: 'Bad Request', type: httpStatus(400), status: 400, detail: 'Request data can not be empty' }),
  badRequest: (detail: string): Problem => ({ title: 'Bad Request', type: httpStatus(400), status: 400, detail }),
  unauthorized: (): Problem => ({ title: 'Unauthorized', type: httpStatus(401), status: 401, detail: 'Invalid user name or password' }),
  paymentRequired: (): Problem => ({ title: 'Payment Required', type: httpStatus(402), status: 402, detail: 'Payment required' }),
  notFound: (detail: string): Problem => ({ title: 'Not Found', type: httpStatus(404), status: 404, detail }),
  methodNotAllowed: (detail: string): Problem => ({ title: 'Method Not Allowed', type: httpStatus(405), status: 405, detail }),
  unprocessable: (detail: string): Problem => ({ title: 'Unprocessable Entity', type: httpStatus(422), status: 422, detail }),
  tooManyRequests: (retryAfter: number): Problem => ({
    title: 'Too Many Requests', type: httpStatus(429), status: 429,
    detail: 'You have sent too many requests in a given amount of time. Please try again later.', retry_after: retryAfter,
  }),
  internal: (): Problem => ({ title: 'ErrInternalServer', type: httpStatus(500), status: 500, detail: 'Internal server error', trace_id: randomUUID().replaceAll('-', '') }),
  generic: (status: number, title: string): Problem => ({ title, type: httpStatus(status), status, detail: title }),
};

const OAUTH_TYPE = 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson';

/** Token-endpoint errors (league/oauth2-server underneath, amoCRM's wording on top). */
export const oauthProblems = {
  invalidRequest: (hint: string, status = 400): Problem => ({
    hint, title: 'Некорректный запрос', type: OAUTH_TYPE, status, detail: 'В запросе отсутствует ряд параметров или параметры невалидны',
  }),
  invalidClient: (): Problem => ({ title: 'Некорректный клиент', type: OAUTH_TYPE, status: 401, detail: 'Авторизация клиента не прошла' }),
  unsupportedGrant: (): Problem => ({
    hint: 'Check that all required parameters have been provided', title: 'Неподдерживаемый тип авторизации', type: OAUTH_TYPE, status: 400,
    detail: 'Тип авторизации не поддерживается сервером авторизации',
  }),
};

export function sendProblem(res: Response, body: Problem): void {
  res.status(body.status).type('application/problem+json').send(JSON.stringify(body));
}

export function sendHal(res: Response, body: unknown, status = 200): void {
  res.status(status).type('application/hal+json').send(JSON.stringify(body));
}

export function sendNoContent(res: Response): void {
  res.status(204).end();
}

const REASONS: Record<number, string> = {
  403: 'Forbidden', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out',
};

/** The page nginx in front of amoCRM answers with (IP/account block, upstream failures): HTML, not JSON. */
export function sendNginxPage(res: Response, status: number): void {
  const line = `${status} ${REASONS[status] ?? 'Error'}`;
  res.status(status).type('text/html')
    .send(`<html>\r\n<head><title>${line}</title></head>\r\n<body>\r\n<center><h1>${line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`);
}
