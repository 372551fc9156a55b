import { createApp } from 'vue';
import '@fontsource/inter/400.css';
import '@fontsource/inter/500.css';
import '@fontsource/inter/600.css';
import './styles.css';
import App from './App.vue';
import { router } from './router';
import { i18n } from './i18n';
import './theme';

createApp(App).use(i18n).use(router).mount('#app');
