#include "tools/inspect.h"

namespace krun {
int inspect_main(int, char **) { return 2; }
}
