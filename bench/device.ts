// Benchmarks that need the emulator and espefuse (2, 4, 5). Filled in as those parts land.
export async function benchDevice(): Promise<Record<string, unknown>> {
  return {};
}
