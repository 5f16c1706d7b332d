/**
 * Feedback events written by the serving side: impressions of served recommendation
 * lists and what users did with them, tagged with the model version that served them.
 * An impression is one row per item shown, with its 0-based `position` in the list and the
 * `request_id` of the response; an outcome (click, add_to_cart, purchase) carries the
 * `request_id` of the list it came from when the client knows it, so the feedback step can
 * join outcomes to what was served. Files: `feedback/<model>/date=YYYY-MM-DD/<batch>.arrow`.
 */
import { Field, Int32, Schema, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { z } from 'zod';

export const FEEDBACK_TYPES = ['impression', 'click', 'add_to_cart', 'purchase'] as const;

export const FeedbackRow = z
  .object({
    type: z.enum(FEEDBACK_TYPES),
    model_version: z.string().min(1).max(128),
    user_id: z.string().min(1).max(256),
    item_id: z.string().min(1).max(256),
    request_id: z.string().max(128).nullish(),
    position: z.number().int().min(0).max(1000).nullish(),
    timestamp: z.union([z.number(), z.string()]),
  })
  .strict();
export type FeedbackEvent = z.output<typeof FeedbackRow>;
export const REQUIRED_FEEDBACK_COLUMNS = ['type', 'model_version', 'user_id', 'item_id', 'timestamp'] as const;

/** Arrow layout of the serving side's feedback batches (serving/feedback-log.ts); the feedback step validates their rows with FeedbackRow. */
export const FEEDBACK_SCHEMA = new Schema([
  new Field('type', new Utf8(), false),
  new Field('model_version', new Utf8(), false),
  new Field('user_id', new Utf8(), false),
  new Field('item_id', new Utf8(), false),
  new Field('request_id', new Utf8(), true),
  new Field('position', new Int32(), true),
  new Field('timestamp', new TimestampMillisecond(), false),
]);
