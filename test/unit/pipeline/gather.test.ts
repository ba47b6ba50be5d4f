import { gather } from '../../../shared/util/gather';

describe('gather: one call for the items of several concurrent parties', () => {
  it('runs once, when the last party is in, with every joined item, and gives each the result', async () => {
    const runs: number[][] = [];
    const party = gather(3, async (items: readonly number[]) => {
      runs.push([...items]);
      return items.length;
    });
    const [a, b, c] = [party(), party(), party()];
    const first = a.join([1, 2]);
    const second = b.join([3]);
    expect(runs).toEqual([]); // the third has not come
    c.leave();
    await expect(Promise.all([first, second])).resolves.toEqual([3, 3]);
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it('does not run when every party left, and counts a party once (a leave after its join is a no-op)', async () => {
    let runs = 0;
    const party = gather(2, async () => ++runs);
    const a = party();
    const b = party();
    const joined = a.join([1]);
    a.leave();
    expect(runs).toBe(0);
    b.leave();
    await expect(joined).resolves.toBe(1);
    const none = gather(2, async () => ++runs);
    none().leave();
    none().leave();
    await Promise.resolve();
    expect(runs).toBe(1);
    await expect(b.join([2])).rejects.toThrow('joins once');
  });

  it("rejects every joined party with the run's error", async () => {
    const party = gather(2, async () => {
      throw new Error('transaction refused');
    });
    const shares = [party().join(['x']), party().join(['y'])];
    for (const share of shares) await expect(share).rejects.toThrow('transaction refused');
    // A run that throws before it returns a promise rejects the shares too, not the last party's join.
    const sync = gather(1, (): Promise<number> => {
      throw new Error('thrown at once');
    });
    await expect(sync().join([1])).rejects.toThrow('thrown at once');
  });
});
