#include "service/env.hpp"
