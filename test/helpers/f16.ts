/**
 * Tests of the f16 paths run where the device has `shader-f16`; elsewhere they are reported as
 * skipped — except in CI, which runs on lavapipe (it has the feature): there a missing feature
 * fails the test instead of letting the f16 paths go untested in silence.
 */
export function requireF16(hasF16: boolean, skip: () => void): void {
  if (hasF16) return;
  if (process.env['CI']) throw new Error('this device lacks shader-f16, but CI runs on lavapipe, which has it: the f16 paths would go untested');
  skip();
}
