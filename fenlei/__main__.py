from fenlei.cli import main

raise SystemExit(main())
