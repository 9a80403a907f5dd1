/*
 * efuse-attest-emu: an emulated ESP32 that runs the firmware's compiled ES modules on the real XS
 * engine, with the firmware's native C linked against a simulated ESP-IDF, and its UART on a
 * pseudo-terminal. This file is the command line and the event loop:
 *
 *   parse options -> esp_sim_init (eFuse image + silicon side file) -> open the pty -> boot text ->
 *   run the firmware -> print "PTY /dev/pts/N" -> loop: poll the pty and signals, deliver callbacks.
 *
 * Signals: SIGHUP resets the chip (boot text, a new machine, the same pty); SIGUSR1 prints a stats
 * line on stderr; SIGTERM and SIGINT end the process with status 0 (after a last stats line).
 */
#include "emu.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The simulated ESP-IDF (emulator/idf) provides esp_sim_init. It is referenced weakly so the
   runtime still builds and runs while that layer is absent; the firmware's native calls then fail
   with "not linked" errors instead. */
#if __has_include("esp_sim.h")
#include "esp_sim.h"
#else
int esp_sim_init(const char *chip, const char *efuse_image_path, const char *silicon_path, char *err, size_t errlen);
int esp_sim_set_firmware_file(const char *path, char *err, size_t errlen);
#endif
extern __typeof__(esp_sim_init) esp_sim_init __attribute__((weak));
extern __typeof__(esp_sim_set_firmware_file) esp_sim_set_firmware_file __attribute__((weak));

emu_options emu_opts;

static const emu_chip *chip;
static int signalPipe[2] = { -1, -1 };

void emu_log(const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	fprintf(stderr, "%s: ", EMU_NAME);
	vfprintf(stderr, format, arguments);
	fputc('\n', stderr);
	va_end(arguments);
	fflush(stderr);
}

static const char usage[] =
	"usage: " EMU_NAME " --chip CHIP --efuse FILE [options]\n"
	"\n"
	"Runs the efuse-attest firmware on the XS engine with a simulated ESP-IDF and exposes its UART\n"
	"as a pseudo-terminal. Prints \"PTY /dev/pts/N\" on stdout once the firmware is running.\n"
	"\n"
	"  --chip CHIP         chip model: %s\n"
	"  --efuse FILE        eFuse image written by espefuse --virt (--path-efuse-file)\n"
	"  --silicon FILE      what the silicon holds beyond the image (default: FILE.silicon.json)\n"
	"  --link PATH         also make PATH a symbolic link to the pty (removed on exit)\n"
	"  --main FILE         a file to run as the module \"main\" instead of the firmware's\n"
	"  --linkmap FILE      the modules to link (default: <root>/emulator/build/maps/CHIP.map,\n"
	"                      written by make from the manifests)\n"
	"  --root DIR          repository root (default: found from this program's location)\n"
	"  --config-json JSON  merged over the target's config from the manifests (module mc/config)\n"
	"  --verbose           trace() text, module loads and warnings also on stderr\n"
	"  --help              this text\n"
	"\n"
	"Signals: SIGHUP resets the chip, SIGUSR1 prints a stats line on stderr, SIGTERM/SIGINT exit.\n"
	"Exit status: 0 after SIGTERM/SIGINT, 1 when the firmware fails to start, 2 on bad arguments\n"
	"or a chip that cannot be emulated.\n";

static void __attribute__((noreturn)) bad_usage(const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	fprintf(stderr, "%s: ", EMU_NAME);
	vfprintf(stderr, format, arguments);
	fprintf(stderr, " (see --help)\n");
	va_end(arguments);
	exit(2);
}

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *absolute(const char *path, const char *what)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		bad_usage("%s %s: %s", what, path, strerror(errno));
	return strdup(real);
}

/* The binary lives at <root>/emulator/build/<name>, or a folder below build/ (build/sdk). */
static char *find_root(void)
{
	char exe[PATH_MAX];
	char probe[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	for (int i = 0; i < 5; i++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			return NULL;
		*slash = 0;
		snprintf(probe, sizeof(probe), "%s/emulator/modules/serial.js", exe);
		if (is_file(probe))
			return strdup(exe);
	}
	return NULL;
}

static void on_signal(int signal)
{
	int saved = errno;
	unsigned char byte = (unsigned char)signal;
	if (write(signalPipe[1], &byte, 1) < 0) {
		/* the pipe is full: signals are already pending */
	}
	errno = saved;
}

static void setup_signals(void)
{
	struct sigaction action;
	if (pipe2(signalPipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		emu_log("pipe: %s", strerror(errno));
		exit(1);
	}
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_signal;
	sigemptyset(&action.sa_mask);
	action.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGUSR1, &action, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void print_stats(void)
{
	emu_stats s;
	engine_stats(&s);
	fprintf(stderr,
		"{\"stats\":{\"chunkBytes\":%llu,\"chunkPeak\":%llu,\"slotBytes\":%llu,\"slotPeak\":%llu,"
		"\"heapCount\":%llu,\"callbackErrors\":%llu,\"bytesIn\":%llu,\"bytesOut\":%llu,\"resets\":%llu,\"rxLost\":%llu}}\n",
		(unsigned long long)s.chunkBytes, (unsigned long long)s.chunkPeak,
		(unsigned long long)s.slotBytes, (unsigned long long)s.slotPeak,
		(unsigned long long)s.heapCount, (unsigned long long)s.callbackErrors,
		(unsigned long long)s.bytesIn, (unsigned long long)s.bytesOut, (unsigned long long)s.resets,
		(unsigned long long)s.rxLost);
	fflush(stderr);
}

static void __attribute__((noreturn)) finish(int status)
{
	uart_flush();
	print_stats();
	engine_stop();
	uart_close();
	exit(status);
}

/* Boot text, then a new machine running the firmware; a firmware that cannot start ends the
   process (a board would boot-loop). */
static void boot(emu_boot_reason reason)
{
	char err[4096];
	uart_tx_discard();
	uart_rx_clear();
	boot_banner(chip, reason);
	if (engine_start(err, sizeof(err)) != 0) {
		emu_log("%s", err);
		finish(1);
	}
}

static void reset(emu_boot_reason reason)
{
	if (emu_opts.verbose)
		emu_log("reset (%s)", reason == BOOT_PANIC ? "panic" : "SIGHUP");
	engine_stop();
	engine_count_reset();
	boot(reason);
}

/* Handles pending signals; returns false when the process should end. */
static bool handle_signals(void)
{
	unsigned char signals[16];
	ssize_t n = read(signalPipe[0], signals, sizeof(signals));
	for (ssize_t i = 0; i < n; i++) {
		switch (signals[i]) {
		case SIGHUP:
			reset(BOOT_SW_RESET);
			break;
		case SIGUSR1:
			print_stats();
			break;
		default:
			return false;
		}
	}
	return true;
}

static void run(void)
{
	for (;;) {
		struct pollfd fds[2];
		bool more = serial_service();
		if (engine_aborted()) {
			reset(BOOT_PANIC);
			continue;
		}
		if (uart_flush()) {
			serial_drained();
			more = true;
		}
		fds[0] = (struct pollfd){ .fd = signalPipe[0], .events = POLLIN };
		fds[1] = (struct pollfd){
			.fd = uart_master_fd(),
			.events = (short)((uart_rx_room() ? POLLIN : 0) | (uart_tx_pending() ? POLLOUT : 0)),
		};
		if (poll(fds, 2, more ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			emu_log("poll: %s", strerror(errno));
			finish(1);
		}
		if ((fds[0].revents & POLLIN) && !handle_signals())
			finish(0);
		if (fds[1].revents & POLLIN)
			uart_rx_fill();
		if ((fds[1].revents & (POLLHUP | POLLERR)) && !(fds[1].revents & (POLLIN | POLLOUT)))
			usleep(10000); /* not expected while we hold the slave open; never spin */
	}
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "chip", required_argument, NULL, 'c' },
		{ "efuse", required_argument, NULL, 'e' },
		{ "silicon", required_argument, NULL, 's' },
		{ "link", required_argument, NULL, 'l' },
		{ "main", required_argument, NULL, 'm' },
		{ "linkmap", required_argument, NULL, 'k' },
		{ "root", required_argument, NULL, 'r' },
		{ "config-json", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *chipName = NULL, *efuse = NULL, *silicon = NULL, *link = NULL, *mainFile = NULL, *root = NULL, *linkmap = NULL;
	char defaultSilicon[PATH_MAX], defaultMap[PATH_MAX], freezer[PATH_MAX], err[1024];
	int option;

	opterr = 0;
	while ((option = getopt_long(argc, argv, ":hv", options, NULL)) != -1) {
		switch (option) {
		case 'c': chipName = optarg; break;
		case 'e': efuse = optarg; break;
		case 's': silicon = optarg; break;
		case 'l': link = optarg; break;
		case 'm': mainFile = optarg; break;
		case 'k': linkmap = optarg; break;
		case 'r': root = optarg; break;
		case 'j': emu_opts.configJson = optarg; break;
		case 'v': emu_opts.verbose = true; break;
		case 'h':
			printf(usage, chip_names());
			return 0;
		case ':':
			bad_usage("%s needs a value", argv[optind - 1]);
		default:
			bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument %s", argv[optind]);
	if (!chipName)
		bad_usage("--chip is required");
	if (!efuse)
		bad_usage("--efuse is required");
	chip = chip_find(chipName);
	if (!chip)
		bad_usage("unknown chip \"%s\"; expected one of %s", chipName, chip_names());
	if (strcmp(chipName, emu_target) != 0) {
		fprintf(stderr, "%s: this emulator is built for %s: run emulator/build/%s/%s\n", EMU_NAME, emu_target, chipName, EMU_NAME);
		return 2;
	}
	emu_opts.chip = chipName;

	emu_opts.root = root ? absolute(root, "--root") : find_root();
	if (!emu_opts.root)
		bad_usage("cannot find the repository root from this program's location; give --root");
	if (!linkmap) {
		snprintf(defaultMap, sizeof(defaultMap), "%s/emulator/build/maps/%s.map", emu_opts.root, chipName);
		linkmap = defaultMap;
	}
	emu_opts.linkmap = absolute(linkmap, "--linkmap");
	if (linkmap_load(emu_opts.linkmap, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", EMU_NAME, err);
		return 2;
	}
	if (mainFile) {
		emu_opts.main = absolute(mainFile, "--main");
		linkmap_override("main", emu_opts.main);
	}
	else if (!linkmap_file("main") || !is_file(linkmap_file("main")))
		bad_usage("no firmware: the link map %s names no readable module \"main\" (npm run build)", emu_opts.linkmap);
	snprintf(freezer, sizeof(freezer), "%s/emulator/modules/freeze-builtins.js", emu_opts.root);
	linkmap_override(FREEZE_MODULE, freezer);
	if (!silicon) {
		snprintf(defaultSilicon, sizeof(defaultSilicon), "%s.silicon.json", efuse);
		silicon = defaultSilicon;
	}

	if (esp_sim_init) {
		err[0] = 0;
		if (esp_sim_init(chipName, efuse, silicon, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", EMU_NAME, err[0] ? err : "esp_sim_init failed");
			return 2;
		}
		/* The app description's ELF SHA-256 (the firmware id): the link map's, which carries a digest
		   of every module it links, or the --main file's. */
		if (esp_sim_set_firmware_file && esp_sim_set_firmware_file(emu_opts.main ? emu_opts.main : emu_opts.linkmap, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", EMU_NAME, err);
			return 2;
		}
	}
	else
		emu_log("warning: built without the simulated ESP-IDF (emulator/idf); --efuse is not read");

	/* End with the process that started us (the Node launcher), even if it dies without a word. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setup_signals();

	if (uart_open(link, err, sizeof(err)) != 0) {
		emu_log("%s", err);
		uart_close();
		return 1;
	}
	boot(BOOT_POWERON);
	/* Power-on text goes into the pty before its path is announced, as a board has printed its boot
	   text before anyone opens the port: a host that opens it later does not see that text. */
	if (uart_flush())
		serial_drained();
	printf("PTY %s\n", uart_slave_path());
	fflush(stdout);
	run();
}
