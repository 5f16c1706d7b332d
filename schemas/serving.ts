/**
 * The serving API's request contracts. Every query string and body is parsed with one of
 * these schemas; a failure becomes a 400 that names the field (see describeRequestIssue).
 */
import { z } from 'zod';
import { identifier, timestamp } from './events';

export const MAX_K = 100;
export const DEFAULT_K = 10;
/** Longest anonymous session sequence accepted; the model only looks at its last maxLen items. */
export const MAX_SESSION_ITEMS = 200;
export const MAX_FEEDBACK_EVENTS_PER_REQUEST = 500;
export const OUTCOME_TYPES = ['click', 'add_to_cart', 'purchase'] as const;

const k = z.coerce
  .number({ message: 'must be a number' })
  .int('must be an integer')
  .min(1, 'must be at least 1')
  .max(MAX_K, `must be at most ${MAX_K}`)
  .default(DEFAULT_K);

/** Event time of the request, for replays and backfills; the receive time when absent. */
const eventTime = z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v), timestamp).optional();

export const RecommendationQuery = z
  .object({ user: identifier, k, timestamp: eventTime })
  .strict();
export type RecommendationQuery = z.output<typeof RecommendationQuery>;

export const SessionRecommendationBody = z
  .object({
    items: z.array(identifier).min(1, 'must hold at least one item id').max(MAX_SESSION_ITEMS, `must hold at most ${MAX_SESSION_ITEMS} item ids`),
    k,
    /** Stored as the impressions' user_id so outcomes of the same session can be joined. */
    session: identifier.optional(),
    timestamp: eventTime,
  })
  .strict();
export type SessionRecommendationBody = z.output<typeof SessionRecommendationBody>;

const OutcomeEvent = z
  .object({
    type: z.enum(OUTCOME_TYPES, { message: `must be one of ${OUTCOME_TYPES.join(', ')}` }),
    user: identifier,
    item: identifier,
    /** The request_id of the recommendation list the outcome came from, when there was one. */
    request_id: z.string().min(1).max(128).optional(),
    position: z.number().int().min(0).max(MAX_K - 1).optional(),
    timestamp: eventTime,
  })
  .strict();
export type OutcomeEvent = z.output<typeof OutcomeEvent>;

const OutcomeEvents = z
  .array(OutcomeEvent)
  .min(1, 'must hold at least one event')
  .max(MAX_FEEDBACK_EVENTS_PER_REQUEST, `must hold at most ${MAX_FEEDBACK_EVENTS_PER_REQUEST} events`);

/** A feedback body is one event object or an array of them; errors name `type` or `[3].type` accordingly. */
export function parseFeedbackBody(body: unknown): z.ZodSafeParseResult<OutcomeEvent[]> {
  return Array.isArray(body) ? OutcomeEvents.safeParse(body) : OutcomeEvent.transform((event) => [event]).safeParse(body);
}

/** "k: must be at most 100" for the first issue; array positions read as `items[3]`. */
export function describeRequestIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0];
  const field =
    issue.code === 'unrecognized_keys'
      ? issue.keys.join(', ')
      : issue.path.reduce<string>((name, part) => (typeof part === 'number' ? `${name}[${part}]` : name ? `${name}.${String(part)}` : String(part)), '') || '(body)';
  const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message;
  return { field, message };
}

/**
 * A body that is one item or an array of up to `max` items, read as a list either way, so
 * a route handles one shape and a batch's errors name `[3].field`. The schemas are built
 * once, here: building a zod schema per request cost 0.25 ms, a tenth of a title request.
 * `batch` may refine the array further (e.g. no duplicate ids).
 */
export function oneOrMany<T extends z.ZodType>(item: T, max: number, noun: string, batch: (list: z.ZodArray<T>) => z.ZodType<z.output<T>[]> = (list) => list): (body: unknown) => z.ZodSafeParseResult<z.output<T>[]> {
  const one = item.transform((value) => [value]);
  const many = batch(z.array(item).min(1, `must hold at least one ${noun}`).max(max, `must hold at most ${max} ${noun}s`));
  return (body) => (Array.isArray(body) ? many : one).safeParse(body) as z.ZodSafeParseResult<z.output<T>[]>;
}
