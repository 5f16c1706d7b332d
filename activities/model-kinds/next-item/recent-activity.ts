/**
 * What users did since the champion's training data was cut: the items of the outcome
 * events (click, add_to_cart, purchase) posted to /feedback, newest last. Kept as store item
 * ids, not dense indices, so it survives a swap to a version with another vocabulary.
 * Bounded twice: the most recently active users, and the last items per user (a model only
 * reads its last maxLen items anyway).
 */
import { LRUCache } from 'lru-cache';

export class RecentActivity {
  private readonly byUser: LRUCache<string, string[]>;

  constructor(
    maxUsers: number,
    private readonly itemsPerUser: number,
  ) {
    this.byUser = new LRUCache({ max: maxUsers });
  }

  record(user: string, item: string): void {
    const items = this.byUser.get(user) ?? [];
    if (items[items.length - 1] !== item) items.push(item);
    if (items.length > this.itemsPerUser) items.splice(0, items.length - this.itemsPerUser);
    this.byUser.set(user, items);
  }

  itemsOf(user: string): readonly string[] {
    return this.byUser.get(user) ?? [];
  }

  get users(): number {
    return this.byUser.size;
  }
}
