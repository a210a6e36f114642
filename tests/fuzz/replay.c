/*
 * The plain driver: runs a fuzz harness over corpus files without libFuzzer, so the normal test
 * run (gcc, and the sanitizer tree) replays every seed and every past crash as a regression test.
 *
 *     fuzz_<harness>_replay PATH...    each PATH a file, or a directory whose files are replayed
 *
 * Each input is copied into a buffer of exactly its size, so the sanitizers see an overread as
 * libFuzzer would. A property that fails aborts the process (the test fails); a run that finds no
 * input at all fails too, so a corpus that went missing cannot pass silently.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oracle.h"

/* Reads path whole into a malloc'd buffer of exactly its size (the caller frees), or NULL. */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *data = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size >= 0) {
        *len = (size_t)st.st_size;
        /* One extra byte so that an empty file still gets a unique pointer. */
        data = malloc(*len > 0 ? *len : 1);
        if (data != NULL && fread(data, 1, *len, f) != *len) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    return data;
}

static int replay_file(const char *path)
{
    size_t len = 0;
    uint8_t *data = read_all(path, &len);
    if (data == NULL) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* Printed before the call: if the harness aborts, the last line names the input. */
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int keep_entry(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Replays every file of dir in name order. Returns the count, or -1. */
static int replay_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, keep_entry, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (count >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            count = replay_file(path) == 0 ? count + 1 : -1;
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        int n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replay: %d inputs, every property held\n", total);
    return 0;
}
