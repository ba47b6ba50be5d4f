import { shardsFor } from '../../../tools/lib/tick-driver';

/** The bench's default stream size (tools/lib/tick-driver.ts): a shard takes 1,000 records/s of writes. */
describe('shardsFor', () => {
  it('is the stack default of one shard up to a shard’s write limit', () => {
    expect(shardsFor(1)).toBe(1);
    expect(shardsFor(600)).toBe(1);
    expect(shardsFor(1000)).toBe(1);
  });

  it('adds a shard for every further 1,000 ticks/s', () => {
    expect(shardsFor(1001)).toBe(2);
    expect(shardsFor(5000)).toBe(5);
  });
});
