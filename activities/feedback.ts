/**
 * feedback: online metrics of the served models from `feedback/<model>/` (impressions,
 * clicks, add-to-carts, purchases, tagged with the model version). An empty prefix is a
 * valid outcome: "no feedback yet".
 */
import { parseRawFile } from './collect/raw-files';
import { FeedbackRow, REQUIRED_FEEDBACK_COLUMNS } from '../schemas/feedback';
import { servingModelName } from '../schemas/lifecycle-input';
import type { ObjectStore } from './storage/object-store';
import type { FeedbackResult, StepContext } from '../schemas/steps';

export async function measureFeedback(store: ObjectStore, ctx: StepContext): Promise<FeedbackResult> {
  const objects = await store.list(`feedback/${servingModelName(ctx.config)}/`);
  const perVersion: FeedbackResult['perVersion'] = {};
  let events = 0;
  for (const object of objects) {
    const found = await store.getWithEtag(object.key);
    if (!found) continue; // deleted after listing: nothing to count
    const parsed = parseRawFile(object.key, found.bytes, FeedbackRow, REQUIRED_FEEDBACK_COLUMNS);
    for (const e of parsed.rows) {
      const v = (perVersion[e.model_version] ??= { impressions: 0, clicks: 0, addToCarts: 0, purchases: 0, ctr: 0 });
      if (e.type === 'impression') v.impressions++;
      else if (e.type === 'click') v.clicks++;
      else if (e.type === 'add_to_cart') v.addToCarts++;
      else v.purchases++;
      events++;
    }
  }
  for (const v of Object.values(perVersion)) v.ctr = v.impressions > 0 ? v.clicks / v.impressions : 0;
  return { status: events === 0 ? 'no-feedback' : 'measured', events, perVersion };
}
