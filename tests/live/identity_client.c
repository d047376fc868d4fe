/*
 * A client for tests/live/identity_test.sh: joins a cgroup, connects to
 * 127.0.0.1:PORT, and appends what it sees of itself to OUT as one line
 * "pid ppid starttime local_port" (starttime from /proc/self/stat, in clock
 * ticks), then holds the connection HOLD_MS ms so nettrace sees it alive.
 * With REUSE_PID (not 0) it does that twice in children that both get that
 * pid, set through /proc/sys/kernel/ns_last_pid (retried: other processes on
 * the machine fork too).
 *
 *   identity_client PORT HOLD_MS CGROUP_PROCS|- REUSE_PID OUT [ARGS...]
 * ARGS are ignored: they are there to be seen in the command line.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int work(int port, int hold_ms, const char *procs, const char *out)
{
	if (strcmp(procs, "-") != 0) {
		FILE *f = fopen(procs, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
			return 10;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0)
		return 11;
	socklen_t len = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &len);
	char stat[4096];
	int fd = open("/proc/self/stat", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, stat, sizeof stat - 1) : -1;
	if (n <= 0)
		return 12;
	stat[n] = 0;
	/* Fields after the last ')': state ppid ... starttime (field 22). */
	char *p = strrchr(stat, ')');
	unsigned long long field[24] = {0};
	char state;
	if (!p || sscanf(p + 2, "%c %llu", &state, &field[4]) != 2)
		return 13;
	for (int i = 3; i <= 22; i++)
		p = strchr(p + 1, ' ');
	field[22] = strtoull(p + 1, NULL, 10);
	FILE *f = fopen(out, "a");
	if (!f)
		return 14;
	fprintf(f, "%d %llu %llu %u\n", (int)getpid(), field[4], field[22], ntohs(a.sin_port));
	fclose(f);
	usleep(hold_ms * 1000);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	int port = atoi(argv[1]), hold = atoi(argv[2]), reuse = atoi(argv[4]);
	if (!reuse)
		return work(port, hold, argv[3], argv[5]);
	int done = 0;
	for (int tries = 0; tries < 500 && done < 2; tries++) {
		FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
		if (!f)
			return 20;
		fprintf(f, "%d", reuse - 1);
		fclose(f);
		pid_t c = fork();
		if (c == 0)
			_exit(getpid() == reuse ? work(port, hold, argv[3], argv[5]) : 0);
		int st = 0;
		waitpid(c, &st, 0);
		if (c == reuse) {
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				return 21;
			done++;
		}
	}
	return done == 2 ? 0 : 22;
}
