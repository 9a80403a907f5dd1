// The serialport binding this project opens ports with: the platform binding of
// @serialport/bindings-cpp, with one fix for full-duplex use on Linux and macOS.
//
// Why: the binding's fd poller re-arms libuv with only the event just asked for
// (uv_poll_start(handle, events) in poller.cpp), so when the reader asks for "readable" while a
// write is waiting for "writable" after EAGAIN, the writable interest is dropped and the write never
// completes. A device that answers while the host is still sending a large burst (a pseudo-terminal
// fills after a few KB) hangs the host for good. Here every poll asks for the events that still
// have a waiter as well, so neither side can cancel the other.
import {
  autoDetect, type AutoDetectTypes, type BindingInterface, type OpenOptions, type PortInfo,
} from '@serialport/bindings-cpp';

const UV_READABLE = 0b0001;
const UV_WRITABLE = 0b0010;
const UV_DISCONNECT = 0b0100;

interface PollerLike {
  poll(flag?: number): void;
  listenerCount(event: string): number;
}

/** Makes a bindings-cpp poller keep every awaited event armed. Idempotent. */
export function keepPollerInterest(poller: PollerLike): void {
  const tagged = poller as PollerLike & { keepsInterest?: true };
  if (tagged.keepsInterest) return;
  const poll = poller.poll.bind(poller);
  poller.poll = (flag = 0) => {
    let want = flag;
    if (poller.listenerCount('readable') > 0) want |= UV_READABLE;
    if (poller.listenerCount('writable') > 0) want |= UV_WRITABLE;
    if (poller.listenerCount('disconnect') > 0) want |= UV_DISCONNECT;
    poll(want);
  };
  tagged.keepsInterest = true;
}

const platform: AutoDetectTypes = autoDetect();
type PlatformPort = Awaited<ReturnType<AutoDetectTypes['open']>>;

/** The platform binding with keepPollerInterest applied to every port it opens. */
export const binding: BindingInterface<PlatformPort, OpenOptions> = Object.freeze({
  list(): Promise<PortInfo[]> {
    return platform.list();
  },
  async open(options: OpenOptions): Promise<PlatformPort> {
    const port = await (platform.open as (o: OpenOptions) => Promise<PlatformPort>)(options);
    const poller = (port as { poller?: PollerLike }).poller;
    if (poller) keepPollerInterest(poller);
    return port;
  },
});
