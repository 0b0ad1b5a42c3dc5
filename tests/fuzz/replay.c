/*
 * replay.c -- runs a libFuzzer target over files, so corpora replay without clang.
 *
 * Usage: fuzz_<name> FILE|DIR...  Each file is passed once to LLVMFuzzerTestOneInput;
 * a crash or sanitizer report fails the run. Prints one TAP line per directory/file.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int tap_n;

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long n;

	if (f == NULL)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc(n > 0 ? (size_t)n : 1);
	if (data == NULL || (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n)) {
		fclose(f);
		free(data);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)n);
	free(data);
	return 0;
}

static void
replay_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char sub[4096];
	int count = 0, bad = 0;

	if (stat(path, &st) != 0) {
		printf("ok %d - %s # SKIP no corpus\n", ++tap_n, path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		bad = replay_file(path) != 0;
		printf("%sok %d - replayed %s\n", bad ? "not " : "", ++tap_n, path);
		return;
	}
	d = opendir(path);
	if (d == NULL) {
		printf("not ok %d - cannot open %s\n", ++tap_n, path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (stat(sub, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(sub) != 0)
			bad++;
		count++;
	}
	closedir(d);
	printf("%sok %d - replayed %d inputs from %s\n", bad ? "not " : "", ++tap_n, count, path);
}

int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		replay_path(argv[i]);
	printf("1..%d\n", tap_n);
	return 0;
}
