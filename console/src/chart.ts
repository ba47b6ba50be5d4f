import { CandlestickSeries, createChart, type ISeriesApi, type UTCTimestamp } from 'lightweight-charts';
import type { Candle } from './api';

/** A bar on screen: time in epoch seconds, as lightweight-charts wants it. */
interface Bar {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

const INTERVAL_S: Record<string, number> = { '1m': 60, '5m': 300, '1h': 3600 };

/** The price chart: stored candles from GET /candles, the last one moved by each live price. */
export class PriceChart {
  private readonly series: ISeriesApi<'Candlestick'>;
  private last: Bar | undefined;
  private intervalS = 60;

  constructor(container: HTMLElement) {
    const chart = createChart(container, { autoSize: true, timeScale: { timeVisible: true, secondsVisible: false } });
    this.series = chart.addSeries(CandlestickSeries);
  }

  show(candles: Candle[], interval: string): void {
    this.intervalS = INTERVAL_S[interval] ?? 60;
    const bars = candles
      .map((c) => ({ time: Math.floor(c.start / 1000), open: c.open, high: c.high, low: c.low, close: c.close }))
      .sort((a, b) => a.time - b.time);
    this.series.setData(bars.map((c) => ({ ...c, time: c.time as UTCTimestamp })));
    this.last = bars.at(-1);
  }

  /** A live price at `timeMs`: extends the current bar or opens the next one. */
  tick(price: number, timeMs: number): void {
    const bucket = Math.floor(timeMs / 1000 / this.intervalS) * this.intervalS;
    if (this.last && bucket < this.last.time) return; // older than the bar on screen
    this.last =
      this.last && this.last.time === bucket
        ? { ...this.last, high: Math.max(this.last.high, price), low: Math.min(this.last.low, price), close: price }
        : { time: bucket, open: price, high: price, low: price, close: price };
    this.series.update({ ...this.last, time: this.last.time as UTCTimestamp });
  }
}
