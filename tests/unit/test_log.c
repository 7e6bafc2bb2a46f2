/* Log level names: the spellings users write in LOG_LEVEL, and refusal of the rest. */
#include <stdlib.h>
#include "check.h"
#include "log.h"

static void test_names(void)
{
	static const struct {
		const char *name;
		enum log_level level;
	} ok[] = { { "debug", LOG_LEVEL_DEBUG },  { "verbose", LOG_LEVEL_DEBUG },
		   { "info", LOG_LEVEL_INFO },    { "notice", LOG_LEVEL_INFO },
		   { "warn", LOG_LEVEL_WARN },    { "warning", LOG_LEVEL_WARN },
		   { "WARNING", LOG_LEVEL_WARN }, { "error", LOG_LEVEL_ERR },
		   { "err", LOG_LEVEL_ERR },      { "silent", LOG_LEVEL_ERR } };
	enum log_level got;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		got = LOG_LEVEL_INFO + 100;
		CHECK(log_level_parse(ok[i].name, &got));
		CHECK(got == ok[i].level);
	}
	got = LOG_LEVEL_DEBUG;
	CHECK(!log_level_parse("warnings", &got));
	CHECK(!log_level_parse("", &got));
	CHECK(!log_level_parse(NULL, &got));
	CHECK(!log_level_parse("3", &got));
	CHECK(got == LOG_LEVEL_DEBUG); /* untouched on refusal */
}

int main(void)
{
	RUN(test_names);
	return check_done("log");
}
