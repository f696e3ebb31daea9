#include "pg_throwaway.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;

namespace pmos::store::testing {

ErrorOr<std::unique_ptr<PgThrowaway>> PgThrowaway::start(const std::string& script) {
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return Error::system("pipe2", errno);
  UniqueFd to_read(to_child[0]), to_write(to_child[1]);
  if (pipe2(from_child, O_CLOEXEC) != 0) return Error::system("pipe2", errno);
  UniqueFd from_read(from_child[0]), from_write(from_child[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_read.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, from_write.get(), 1);
  std::string bash = "/bin/bash";
  char* argv[] = {bash.data(), const_cast<char*>(script.c_str()), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, bash.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Error::system("posix_spawn", rc);
  to_read.reset();
  from_write.reset();

  // The first line is the connection string; EOF before it means the
  // script failed (it said why on stderr, which we share).
  std::string line;
  char c;
  for (;;) {
    ssize_t n = read(from_read.get(), &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  if (line.empty()) {
    to_write.reset();
    waitpid(pid, nullptr, 0);
    return Error::internal("scripts/pg-throwaway did not start a cluster");
  }
  return std::unique_ptr<PgThrowaway>(new PgThrowaway(pid, std::move(to_write), std::move(line)));
}

PgThrowaway::~PgThrowaway() {
  stdin_pipe_.reset();  // EOF: the script stops the server and deletes it
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace pmos::store::testing
