// Moddable's entry module is named "main"; it starts the firmware, which is built from TypeScript
// into dist/ (npx tsc -p device/tsconfig.json) and named by its path (manifests/firmware.json).
import "device/src/main";
