/** The source of a body stream a socket feeds, on either side of the proxy: pulls ask for more, a cancel drops the rest. */

/** What the owning connection does when the stream's reader wants more bytes or gives up on them. */
export interface BodyFeeder {
  pulled(): void;
  cancelled(): void;
}

export class SocketBody {
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private finished = false;

  constructor(private readonly feeder: BodyFeeder) {}

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
  }

  /** False once the stream holds enough: the socket should stop reading until the next pull. */
  enqueue(bytes: Uint8Array): boolean {
    if (this.finished) return true;
    this.controller.enqueue(bytes);
    return (this.controller.desiredSize ?? 1) > 0;
  }

  pull(): void {
    if (!this.finished) this.feeder.pulled();
  }

  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    this.feeder.cancelled();
  }

  close(): void {
    if (this.finished) return;
    this.finished = true;
    this.controller.close();
  }

  error(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.controller.error(err);
  }
}
